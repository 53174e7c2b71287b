using Cluster.Silo.Hosting;
using Cluster.Silo.Telemetry;
using Microsoft.Extensions.Hosting;

// Configuration: appsettings.json, then environment variables (Cluster__Stages__Device=cpu), then the command line
// (--Cluster:SiloPort=11112). appsettings.json is read from next to the binary, whatever the working directory. See appsettings.json for every setting.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.UseOrleans(silo => silo
    .UseClusterMembership(builder.Configuration)
    .UseKubernetesHostingInPod(builder.Configuration) // pod identity and pod watching, only inside Kubernetes
    .UseClusterStages(builder.Configuration));
builder.Services.AddClusterSiloTelemetry(builder.Configuration); // /metrics, /healthz, /ready on Telemetry:MetricsUrl; OTLP when OTEL_* set
builder.Services.AddGracefulShutdown(builder.Configuration); // SIGTERM drains within Cluster:ShutdownTimeout (30 s)
builder.Build().Run();
