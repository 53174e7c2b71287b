using Microsoft.Extensions.Configuration;
using StackExchange.Redis;

namespace Cluster.Silo.Hosting;

public static class SessionStorageExtensions
{
    /// <summary>The grain storage session grains write to.</summary>
    public const string StorageName = "sessions";

    /// <summary>
    /// Where sessions are kept: in the Redis of <c>Cluster:Redis</c> when the cluster uses Redis membership (a session
    /// then outlives any silo, and entries left by a crash expire after <c>Cluster:Sessions:Retention</c>), else in
    /// Orleans' memory storage (one machine, tests: it spreads state over the silos' memory, so it survives the loss of a
    /// session's activation but not of the silo holding its storage).
    /// </summary>
    public static ISiloBuilder UseSessionStorage(this ISiloBuilder silo, IConfiguration configuration)
    {
        if (configuration["Cluster:Redis"] is { Length: > 0 } redis)
        {
            var retention = configuration.GetValue("Cluster:Sessions:Retention", SessionOptions.DefaultRetention);
            return silo.AddRedisGrainStorage(StorageName, options =>
            {
                options.ConfigurationOptions = ConfigurationOptions.Parse(redis);
                options.EntryExpiry = retention;
            });
        }
        return silo.AddMemoryGrainStorage(StorageName);
    }
}
