using System.Net;
using Orleans.Configuration;

namespace Cluster.Gateway;

public static class OrleansClientExtensions
{
    /// <summary>
    /// Finds the silos: through Redis (<c>Cluster:Redis</c>, a StackExchange.Redis connection string) for several
    /// machines, else the local development cluster on <c>Cluster:GatewayPort</c> (default 30000). Cluster and service
    /// ids and the message size limit must match the silos'.
    /// </summary>
    public static IClientBuilder UseClusterMembership(this IClientBuilder client, IConfiguration configuration)
    {
        var redis = configuration["Cluster:Redis"];
        if (!string.IsNullOrEmpty(redis))
        {
            client.UseRedisClustering(options => options.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(redis));
        }
        else
        {
            client.UseLocalhostClustering(configuration.GetValue("Cluster:GatewayPort", 30000));
        }
        client.Configure<ClusterOptions>(options =>
        {
            options.ClusterId = configuration["Cluster:ClusterId"] ?? "dev";
            options.ServiceId = configuration["Cluster:ServiceId"] ?? "llm-cluster";
        });
        return client;
    }
}
