using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace Cluster.Silo.Hosting;

public static class ClusterMembershipExtensions
{
    /// <summary>
    /// Joins the cluster named by <c>Cluster:ClusterId</c> / <c>Cluster:ServiceId</c> (default "cluster"): through Redis
    /// when <c>Cluster:Redis</c> holds a connection string, else on localhost, where <c>Cluster:SiloPort</c>,
    /// <c>Cluster:GatewayPort</c> and <c>Cluster:PrimarySiloPort</c> (defaults 11111, 30000, 11111) let several silo
    /// processes share one machine: each takes its own ports and all name the first as primary. With Redis,
    /// <c>Cluster:AdvertisedIP</c> sets the address the silo is known by. Failure detection: <see cref="MembershipDefaults"/>.
    /// </summary>
    public static ISiloBuilder UseClusterMembership(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.UseFastFailureDetection(configuration); // a dead silo declared in seconds, not a minute: see MembershipDefaults
        silo.UseStageGrainDirectory(configuration); // opt-in: surviving stages keep their caches when another silo goes
        var section = configuration.GetSection("Cluster");
        var clusterId = section["ClusterId"] ?? "cluster";
        var serviceId = section["ServiceId"] ?? "cluster";
        var siloPort = section.GetValue("SiloPort", 11111);
        var gatewayPort = section.GetValue("GatewayPort", 30000);
        if (section["Redis"] is { Length: > 0 } redis)
        {
            silo.UseRedisClustering(redis);
            // The address other silos and clients reach this one at: Cluster:AdvertisedIP (e.g. the pod IP, or
            // 127.0.0.1 for processes on one machine), else the host's first address.
            if (section["AdvertisedIP"] is { Length: > 0 } advertised)
            {
                silo.ConfigureEndpoints(IPAddress.Parse(advertised), siloPort, gatewayPort);
            }
            else
            {
                silo.ConfigureEndpoints(siloPort, gatewayPort);
            }
            silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, serviceId));
            return silo;
        }
        var primary = new IPEndPoint(IPAddress.Loopback, section.GetValue("PrimarySiloPort", 11111));
        return silo.UseLocalhostClustering(siloPort, gatewayPort, primary, serviceId, clusterId);
    }
}
