using Cluster.Gateway.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>The failover window and back-off of a replica whose stage is unreachable, on a fake clock.</summary>
public sealed class StepFailoverTests
{
    private static readonly SchedulerOptions Options = new()
    {
        FailoverTimeout = TimeSpan.FromSeconds(60),
        FailoverRetryDelay = TimeSpan.FromMilliseconds(100),
        FailoverMaxRetryDelay = TimeSpan.FromSeconds(1),
    };

    [Fact]
    public void BackOffDoublesFromTheRetryDelayToTheMaximumAndOneWakeUpCoversEveryFailureDuringIt()
    {
        var clock = new FakeTimeProvider();
        var failover = new StepFailover(Options, clock);
        var waits = new List<TimeSpan?>();
        for (var i = 0; i < 6; i++)
        {
            Assert.True(failover.TryRetry(out var wake));
            waits.Add(wake);
            Assert.True(failover.TryRetry(out var duringBackOff) && duringBackOff is null,
                $"A second failure during back-off {i} scheduled another wake-up ({duringBackOff}).");
            clock.Advance(wake!.Value);
            failover.RetryDue();
        }

        Assert.Equal([100, 200, 400, 800, 1000, 1000], waits.Select(w => (int)w!.Value.TotalMilliseconds));
    }

    [Fact]
    public void GivesUpOnceTheWindowIsSpentAndAStepThatGetsThroughClosesIt()
    {
        var clock = new FakeTimeProvider();
        var failover = new StepFailover(Options, clock);
        Assert.True(failover.TryRetry(out _));
        clock.Advance(TimeSpan.FromSeconds(59));
        failover.RetryDue();
        Assert.True(failover.TryRetry(out _), "Gave up 59 s into a 60 s window.");
        clock.Advance(TimeSpan.FromSeconds(1));
        failover.RetryDue();
        Assert.False(failover.TryRetry(out _), "Still retrying 60 s into a 60 s window.");

        failover.Succeeded();

        Assert.True(failover.TryRetry(out var wake) && wake == Options.FailoverRetryDelay,
            $"After a step got through, a failure should open a new window with the first back-off; got wake-up {wake}.");
    }

    [Fact]
    public void FailureAfterAQuietSpellLongerThanTheWindowOpensANewWindow()
    {
        var clock = new FakeTimeProvider();
        var failover = new StepFailover(Options, clock);
        Assert.True(failover.TryRetry(out _));
        clock.Advance(TimeSpan.FromSeconds(60));
        Assert.False(failover.TryRetry(out _)); // given up: the streams of that incident failed

        clock.Advance(TimeSpan.FromSeconds(61)); // no traffic, so nothing got through and nothing failed

        Assert.True(failover.TryRetry(out _), "A request long after the give-up should get a window of its own.");
    }
}
