using Cluster.Contracts;
using Cluster.Hosting;
using Orleans.Configuration;

namespace Cluster.Gateway;

public static class OrleansClientExtensions
{
    /// <summary>
    /// Finds the silos the way they find each other (<see cref="ClusterConnection"/>, read as the silos read it): through
    /// Redis when <c>Cluster:Redis</c> holds a connection string, else the local cluster's silo gateway on
    /// <c>Cluster:GatewayPort</c>. The message size limit matches the silos'.
    /// </summary>
    public static IClientBuilder UseClusterMembership(this IClientBuilder client, IConfiguration configuration)
    {
        var cluster = ClusterConnection.From(configuration);
        if (cluster.Redis is { } redis)
        {
            client.UseRedisClustering(redis);
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (cluster.ClusterId, cluster.ServiceId));
        }
        else
        {
            client.UseLocalhostClustering(cluster.GatewayPort, cluster.ServiceId, cluster.ClusterId);
        }
        client.Configure<ClientMessagingOptions>(o => o.MaxMessageBodySize = ClusterMessaging.MaxMessageBodySize);
        // The client drops a gateway whose connection breaks at once; the refresh is how it learns of silos that
        // joined (a replacement) or were declared dead without it noticing: every 5 s instead of Orleans' minute.
        // Cluster:Membership:GatewayListRefreshPeriod overrides it (the section the silos read their failure detection from).
        client.Configure<Orleans.Configuration.GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
        client.Services.AddOptions<Orleans.Configuration.GatewayOptions>().Bind(configuration.GetSection("Cluster:Membership"));
        client.AddActivityPropagation(); // a request's trace continues into the stage grains on the silos
        return client;
    }
}
