using Microsoft.Extensions.Configuration;

namespace Cluster.Hosting;

/// <summary>
/// How a process finds the cluster, read once from section <c>Cluster</c> for silos and gateways alike: Redis
/// membership when <see cref="Redis"/> holds a connection string, else localhost clustering on fixed ports.
/// </summary>
/// <param name="ClusterId"><c>Cluster:ClusterId</c>, default "cluster".</param>
/// <param name="ServiceId"><c>Cluster:ServiceId</c>, default "cluster".</param>
/// <param name="Redis"><c>Cluster:Redis</c>: the membership table's connection string; null for localhost clustering.</param>
/// <param name="SiloPort"><c>Cluster:SiloPort</c> (default 11111): silo-to-silo traffic.</param>
/// <param name="GatewayPort"><c>Cluster:GatewayPort</c> (default 30000): where Orleans clients (gateways) connect.</param>
/// <param name="PrimarySiloPort"><c>Cluster:PrimarySiloPort</c> (default 11111): the first silo, for localhost clustering.</param>
/// <param name="AdvertisedIP"><c>Cluster:AdvertisedIP</c>: the address a silo is known by under Redis membership (e.g. the pod IP); null: the host's first address.</param>
public sealed record ClusterConnection(
    string ClusterId,
    string ServiceId,
    string? Redis,
    int SiloPort,
    int GatewayPort,
    int PrimarySiloPort,
    string? AdvertisedIP)
{
    public const string SectionName = "Cluster";

    public static ClusterConnection From(IConfiguration configuration)
    {
        var section = configuration.GetSection(SectionName);
        return new ClusterConnection(
            section["ClusterId"] ?? "cluster",
            section["ServiceId"] ?? "cluster",
            section["Redis"] is { Length: > 0 } redis ? redis : null,
            section.GetValue("SiloPort", 11111),
            section.GetValue("GatewayPort", 30000),
            section.GetValue("PrimarySiloPort", 11111),
            section["AdvertisedIP"] is { Length: > 0 } advertised ? advertised : null);
    }
}
