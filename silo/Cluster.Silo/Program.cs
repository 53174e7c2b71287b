using Cluster.Silo.Hosting;
using Microsoft.Extensions.Hosting;

// Configuration: appsettings.json, then environment variables (Cluster__Stages__Device=cpu), then the command line
// (--Cluster:SiloPort=11112). See appsettings.json for every setting.
var builder = Host.CreateApplicationBuilder(args);
builder.UseOrleans(silo => silo
    .UseClusterMembership(builder.Configuration)
    .UseClusterStages(builder.Configuration));
builder.Build().Run();
