using Cluster.Gateway;

// The gRPC gateway: an Orleans client of the silos' cluster (Redis membership when Cluster:Redis is set, else the
// local development cluster's gateway port) serving cluster.v1.Generation over HTTP/2.
var builder = WebApplication.CreateBuilder(args);
builder.UseOrleansClient(client => client.UseClusterMembership(builder.Configuration));
builder.Services.AddClusterGateway(builder.Configuration);
var app = builder.Build();
app.MapClusterGateway();
app.Run();
