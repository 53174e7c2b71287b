using Cluster.Gateway.Telemetry;
using Grpc.Core;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// Room for work that is not a generation but holds KV cache on the stages while it runs: Inspect and Embed, a prefill
/// whose caches live only for the call. It queues like a request (counted in <see cref="Load"/>, refused when the queue
/// is full or when it could never fit), is granted before waiting sequences are admitted, holds its positions out of
/// the replica's budget while the caller runs it, and gives them back when the lease is disposed. So it never runs
/// beside more generations than the stages have room for, and a waiting one holds back new admissions (first come,
/// first served) instead of starving behind them.
/// </summary>
internal sealed partial class ReplicaScheduler
{
    private readonly LinkedList<KvReservation> _reservations = new();

    /// <summary>Waits for room for <paramref name="positions"/> KV positions; dispose the lease when the work is done.</summary>
    public async Task<IAsyncDisposable> ReserveAsync(int positions, string model, CancellationToken cancellation)
    {
        if (_capacity.TokensReserved(positions) > _capacity.Tokens)
        {
            GatewayTelemetry.RequestsRefused.Add(1, GatewayTelemetry.RefusalTags(model, "too_large"));
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"The text needs {positions} positions of KV cache; a replica's stages hold at most {_capacity.Tokens}. Send a shorter text."));
        }
        if (Interlocked.Increment(ref _load) > _options.MaxWaitingRequests + _options.MaxRunningSequences)
        {
            Interlocked.Decrement(ref _load);
            GatewayTelemetry.RequestsRefused.Add(1, GatewayTelemetry.RefusalTags(model, "queue_full"));
            throw QueueFull();
        }
        var reservation = new KvReservation(positions);
        if (!_events.Writer.TryWrite(new SchedulerEvent.ReservationAsked(reservation)))
        {
            Interlocked.Decrement(ref _load);
            throw new RpcException(new Status(StatusCode.Unavailable, "The gateway is shutting down; retry on another one."));
        }
        try
        {
            await reservation.Granted.Task.WaitAsync(cancellation);
        }
        catch (OperationCanceledException)
        {
            _events.Writer.TryWrite(new SchedulerEvent.ReservationEnded(reservation)); // granted meanwhile or not, the loop frees it
            throw;
        }
        return new Lease(this, reservation);
    }

    /// <summary>Grants the reservations at the head of the queue that fit; true while one still waits.</summary>
    private bool GrantReservations()
    {
        while (_reservations.First is { } first && _capacity.TryReserve(first.Value.Positions))
        {
            _reservations.RemoveFirst();
            first.Value.IsGranted = true;
            first.Value.Granted.TrySetResult();
        }
        return _reservations.Count > 0;
    }

    private void EndReservation(KvReservation reservation)
    {
        if (reservation.IsEnded)
        {
            return;
        }
        reservation.IsEnded = true;
        Interlocked.Decrement(ref _load);
        if (reservation.IsGranted)
        {
            _capacity.Release(reservation.Positions);
        }
        else
        {
            _reservations.Remove(reservation);
        }
    }

    private void FailReservations()
    {
        foreach (var reservation in _reservations)
        {
            reservation.Granted.TrySetException(new RpcException(new Status(StatusCode.Unavailable, "The gateway is shutting down; retry on another one.")));
        }
    }

    /// <summary>Fields set on the loop only (<see cref="IsGranted"/>, <see cref="IsEnded"/>); the caller only awaits <see cref="Granted"/>.</summary>
    internal sealed class KvReservation(int positions)
    {
        public int Positions { get; } = positions;
        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool IsGranted { get; set; }
        public bool IsEnded { get; set; }
    }

    private sealed class Lease(ReplicaScheduler scheduler, KvReservation reservation) : IAsyncDisposable
    {
        private int _disposed;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                scheduler._events.Writer.TryWrite(new SchedulerEvent.ReservationEnded(reservation));
            }
            return ValueTask.CompletedTask;
        }
    }
}
