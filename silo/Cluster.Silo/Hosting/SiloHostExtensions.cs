using Cluster.Contracts;
using Cluster.Hosting;
using Cluster.Silo.Placement;
using Cluster.Silo.Responses;
using Cluster.Silo.Sessions;
using Cluster.Silo.Stages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Cluster.Silo.Hosting;

public static class SiloHostExtensions
{
    /// <summary>
    /// Makes this silo host stage, session and stored-response grains: options (<c>Cluster:Models</c>, <c>Cluster:Stages</c>,
    /// <c>Cluster:Sessions</c>, <c>Cluster:StoredResponses</c>; the first two validated at start), the stored responses' cache, the device gate, the stage clock, stage placement, the message
    /// size limit and the sessions' storage. The silo executable and the test clusters both configure silos through this.
    /// </summary>
    public static ISiloBuilder UseClusterStages(this ISiloBuilder silo, IConfiguration configuration)
    {
        var services = silo.Services;
        services.AddClusterModels(configuration);
        services.AddOptions<StageOptions>().Bind(configuration.GetSection(StageOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<StageOptions>, StageOptionsValidator>();
        services.AddOptions<SessionOptions>().Bind(configuration.GetSection(SessionOptions.SectionName));
        services.AddOptions<StoredResponseOptions>().Bind(configuration.GetSection(StoredResponseOptions.SectionName));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<StoredResponseCache>();

        services.AddSingleton<DeviceGate>();
        services.TryAddKeyedSingleton(StageClock.Key, TimeProvider.System);
        services.AddPlacementDirector<StagePlacementStrategy, StagePlacementDirector>();
        services.Configure<SiloMessagingOptions>(o => o.MaxMessageBodySize = ClusterMessaging.MaxMessageBodySize);
        silo.AddActivityPropagation(); // the gateway's step span parents the stage grains' spans
        return silo.UseSessionStorage(configuration);
    }
}
