using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;

namespace Cluster.Silo.Hosting;

/// <summary>
/// Which grain directory the silos use, <c>Cluster:DistributedGrainDirectory</c> (default false; every silo of a cluster
/// must agree, so switch it with a full restart, not a rolling update).
/// <para>
/// Orleans' default directory deactivates every activation whose directory registration lived on a silo that died or
/// stopped, so a stage on a silo that is fine loses its KV caches (and reloads its weights) whenever another silo goes:
/// measured on loopback, a SIGKILL of one of three silos deactivated a surviving stage in most runs, and every SIGTERM
/// of a silo (a rolling update) does it too. Orleans' distributed directory (experimental in Orleans 10) recovers the
/// registrations from the surviving silos instead: no surviving stage is touched.
/// </para>
/// <para>
/// After a crash it holds the dead silo's grains back for <see cref="GrainDirectoryOptions.RangeLeaseDuration"/>, so that
/// a silo wrongly declared dead cannot run a grain twice; with Orleans' default lease the killed stage's re-activation
/// waited about 19 s (measured). Here it defaults to 2 s: Orleans counts the lease from the estimated failure time (the
/// failure-detection window before the declaration), our membership declares a dead silo in a few seconds, and a silo
/// declared dead stops itself. A stage run twice for a moment costs a replay, never wrong tokens (steps are idempotent per
/// position). <c>Cluster:GrainDirectory:*</c> sets any <see cref="GrainDirectoryOptions"/> property.
/// </para>
/// </summary>
public static class StageGrainDirectory
{
    public static readonly TimeSpan DefaultRangeLeaseDuration = TimeSpan.FromSeconds(2);

    public static ISiloBuilder UseStageGrainDirectory(this ISiloBuilder silo, IConfiguration configuration)
    {
        if (!configuration.GetValue("Cluster:DistributedGrainDirectory", false))
        {
            return silo;
        }
#pragma warning disable ORLEANSEXP003 // experimental in Orleans 10: opt-in, measured in tests/Cluster.Deployment.Tests/FailoverTests.cs
        silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
        silo.Configure<GrainDirectoryOptions>(o => o.RangeLeaseDuration = DefaultRangeLeaseDuration);
        silo.Services.AddOptions<GrainDirectoryOptions>().Bind(configuration.GetSection("Cluster:GrainDirectory"));
        return silo;
    }
}
