using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;

namespace Cluster.Silo.Hosting;

/// <summary>
/// How fast the cluster declares a silo dead, section <c>Cluster:Membership</c> (any <see cref="ClusterMembershipOptions"/>
/// property). Orleans' defaults take about a minute to declare a killed silo dead; until then calls to its stages keep
/// failing and the stages cannot re-activate elsewhere, so every stream on the replica stalls. These defaults declare
/// it within a few seconds (about NumMissedProbesLimit × ProbeTimeout, then the votes) and stay tolerant enough for
/// busy CPU silos: a silo whose connection still carries messages is not voted dead (connection liveness check, on by
/// default), and probes go indirectly through other silos before a vote.
/// </summary>
public static class MembershipDefaults
{
    public const string SectionName = "Cluster:Membership";

    /// <summary>Probe every silo each second (Orleans: 5 s), adapting between 0.5 s and 4 s to observed probe times.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Three missed probes make a silo suspect (Orleans' default): one lost probe is not a death.</summary>
    public const int NumMissedProbesLimit = 3;

    /// <summary>Two suspecting silos declare it dead (Orleans' default; Orleans asks for at most (active silos + 1) / 2, so one in a cluster of two).</summary>
    public const int NumVotesForDeathDeclaration = 2;

    /// <summary>Re-read the membership table every 5 s (Orleans: 60 s): a silo that missed the gossip still learns of a death soon.</summary>
    public static readonly TimeSpan TableRefreshTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Suspicions older than 30 s (Orleans: 2 min) no longer count: with probes this frequent, old blips must not add up.</summary>
    public static readonly TimeSpan DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Heartbeat in the table every 10 s (Orleans: 30 s): stale entries of silos that vanished are noticed sooner.</summary>
    public static readonly TimeSpan IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Applies the defaults above, then whatever <c>Cluster:Membership</c> sets.</summary>
    public static ISiloBuilder UseFastFailureDetection(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = ProbeTimeout;
            o.NumMissedProbesLimit = NumMissedProbesLimit;
            o.NumVotesForDeathDeclaration = NumVotesForDeathDeclaration;
            o.TableRefreshTimeout = TableRefreshTimeout;
            o.DeathVoteExpirationTimeout = DeathVoteExpirationTimeout;
            o.IAmAliveTablePublishTimeout = IAmAliveTablePublishTimeout;
        });
        silo.Services.AddOptions<ClusterMembershipOptions>().Bind(configuration.GetSection(SectionName));
        return silo;
    }
}
