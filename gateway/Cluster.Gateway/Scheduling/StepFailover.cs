namespace Cluster.Gateway.Scheduling;

/// <summary>
/// A replica's retry state while a stage is unreachable. Steps that fail transiently are put back and retried after a
/// back-off (doubling from <see cref="SchedulerOptions.FailoverRetryDelay"/> to <see cref="SchedulerOptions.FailoverMaxRetryDelay"/>);
/// no step is launched meanwhile, since every step goes through every stage. The window runs from the first failure
/// after the last step that got through; once it exceeds <see cref="SchedulerOptions.FailoverTimeout"/>, failed steps
/// fail their sequences (at once: the rest of the replica's sequences do not each wait out another window). A failure
/// after a quiet spell longer than the window (nothing ran: no step got through, none failed) opens a new window.
/// Owned by the scheduler loop, like everything it schedules.
/// </summary>
internal sealed class StepFailover(SchedulerOptions options, TimeProvider time)
{
    private long? _failingSince;
    private long _lastFailure;
    private TimeSpan _nextDelay = options.FailoverRetryDelay;

    /// <summary>A back-off is running: launch nothing until <see cref="RetryDue"/>.</summary>
    public bool Waiting { get; private set; }

    /// <summary>How long the stages have been failing (zero when the last step got through).</summary>
    public TimeSpan FailingFor => _failingSince is { } since ? time.GetElapsedTime(since) : TimeSpan.Zero;

    /// <summary>A step got through (or a stage answered, if only to refuse): the stages are reachable again.</summary>
    public void Succeeded()
    {
        _failingSince = null;
        _nextDelay = options.FailoverRetryDelay;
    }

    /// <summary>
    /// A step failed transiently. False: the window is spent, fail the step's sequences. True: put them back; when
    /// <paramref name="wakeAfter"/> is set, the caller schedules <see cref="RetryDue"/> after it (one wake-up per back-off,
    /// however many micro-batches fail during it).
    /// </summary>
    public bool TryRetry(out TimeSpan? wakeAfter)
    {
        var now = time.GetTimestamp();
        if (_failingSince is not null && time.GetElapsedTime(_lastFailure, now) > options.FailoverTimeout)
        {
            Succeeded(); // a new incident, not the one given up on long ago
        }
        _failingSince ??= now;
        _lastFailure = now;
        wakeAfter = null;
        if (FailingFor >= options.FailoverTimeout)
        {
            return false;
        }
        if (!Waiting)
        {
            Waiting = true;
            wakeAfter = _nextDelay;
            _nextDelay = TimeSpan.FromTicks(Math.Min(_nextDelay.Ticks * 2, options.FailoverMaxRetryDelay.Ticks));
        }
        return true;
    }

    public void RetryDue() => Waiting = false;
}
