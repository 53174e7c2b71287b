using Cluster.Hosting;
using Cluster.Silo.Sessions;
using Microsoft.Extensions.Configuration;
using StackExchange.Redis;

namespace Cluster.Silo.Hosting;

public static class SessionStorageExtensions
{
    /// <summary>
    /// Where sessions are kept: in the Redis of <c>Cluster:Redis</c> when the cluster uses Redis membership (a session
    /// then outlives any silo, and entries left by a crash expire after <c>Cluster:Sessions:Retention</c>), else in
    /// Orleans' memory storage (one machine, tests: it spreads state over the silos' memory, so it survives the loss of a
    /// session's activation but not of the silo holding its storage).
    /// </summary>
    public static ISiloBuilder UseSessionStorage(this ISiloBuilder silo, IConfiguration configuration)
    {
        if (ClusterConnection.From(configuration).Redis is { } redis)
        {
            var retention = configuration.GetValue("Cluster:Sessions:Retention", SessionOptions.DefaultRetention);
            return silo.AddRedisGrainStorage(SessionGrain.StorageName, options =>
            {
                options.ConfigurationOptions = ConfigurationOptions.Parse(redis);
                options.EntryExpiry = retention;
            });
        }
        return silo.AddMemoryGrainStorage(SessionGrain.StorageName);
    }
}
