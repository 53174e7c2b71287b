using Cluster.Gateway;

// The gRPC gateway: an Orleans client of the silos' cluster (Redis membership when Cluster:Redis is set, else the
// local cluster's silo gateway port) serving cluster.v1.Generation over cleartext HTTP/2 (see appsettings.json).
// Settings next to the binary, whatever the working directory; then environment, then command line.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.UseOrleansClient(client => client.UseClusterMembership(builder.Configuration));
builder.Services.AddClusterGateway(builder.Configuration);
var app = builder.Build();
app.MapClusterGateway();
app.Run();
