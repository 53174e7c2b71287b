using System.Net;
using Cluster.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace Cluster.Silo.Hosting;

public static class ClusterMembershipExtensions
{
    /// <summary>
    /// Joins the cluster that <see cref="ClusterConnection"/> names: through Redis when <c>Cluster:Redis</c> holds a
    /// connection string, else on localhost, where each silo process takes its own ports and all name the first as
    /// primary. Failure detection: <see cref="MembershipDefaults"/>.
    /// </summary>
    public static ISiloBuilder UseClusterMembership(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.UseFastFailureDetection(configuration); // a dead silo declared in seconds, not a minute: see MembershipDefaults
        silo.UseStageGrainDirectory(configuration); // opt-in: surviving stages keep their caches when another silo goes
        var cluster = ClusterConnection.From(configuration);
        if (cluster.Redis is { } redis)
        {
            silo.UseRedisClustering(redis);
            // The address other silos and clients reach this one at: Cluster:AdvertisedIP (e.g. the pod IP, or
            // 127.0.0.1 for processes on one machine), else the host's first address.
            if (cluster.AdvertisedIP is { } advertised)
            {
                silo.ConfigureEndpoints(IPAddress.Parse(advertised), cluster.SiloPort, cluster.GatewayPort);
            }
            else
            {
                silo.ConfigureEndpoints(cluster.SiloPort, cluster.GatewayPort);
            }
            silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (cluster.ClusterId, cluster.ServiceId));
            return silo;
        }
        var primary = new IPEndPoint(IPAddress.Loopback, cluster.PrimarySiloPort);
        return silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, primary, cluster.ServiceId, cluster.ClusterId);
    }
}
