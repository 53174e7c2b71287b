using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Cluster.Hosting;

public static class ClusterHostingExtensions
{
    /// <summary>
    /// Binds <c>Cluster:Models</c> to <see cref="ClusterModelsOptions"/> and validates it when the host starts
    /// (<see cref="ClusterModelsOptionsValidator"/>): a bad entry stops the process with one message naming its key.
    /// </summary>
    public static IServiceCollection AddClusterModels(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ClusterModelsOptions>().Bind(configuration.GetSection(ClusterModelsOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ClusterModelsOptions>, ClusterModelsOptionsValidator>());
        return services;
    }
}
