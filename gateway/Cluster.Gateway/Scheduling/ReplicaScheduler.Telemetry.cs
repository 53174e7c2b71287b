using Cluster.Gateway.Telemetry;

namespace Cluster.Gateway.Scheduling;

/// <summary>The scheduler's metrics and the queue span, recorded at admission and at every token.</summary>
internal sealed partial class ReplicaScheduler
{
    private static void RecordReadmission(RunningSequence sequence)
    {
        var model = GatewayTelemetry.ModelTag(sequence.Request.Model);
        GatewayTelemetry.RequestsWaiting.Add(-1, model);
        GatewayTelemetry.RequestsRunning.Add(1, model);
    }

    private static void RecordAdmission(RunningSequence sequence, TimeSpan queueTime)
    {
        var model = GatewayTelemetry.ModelTag(sequence.Request.Model);
        GatewayTelemetry.RequestsWaiting.Add(-1, model);
        GatewayTelemetry.RequestsRunning.Add(1, model);
        GatewayTelemetry.QueueTime.Record(queueTime.TotalSeconds, model);
        GatewayTelemetry.PromptTokens.Add(sequence.Tokens.Count, model);
        if (sequence.TraceContext != default)
        {
            // Known only now, so recorded after the fact: from the request's arrival to this admission.
            GatewayTelemetry.StartDetached("queue", sequence.TraceContext, DateTimeOffset.UtcNow - queueTime)?.Stop();
        }
    }

    private static void RecordToken(RunningSequence sequence)
    {
        var now = sequence.Clock.Elapsed;
        var model = GatewayTelemetry.ModelTag(sequence.Request.Model);
        if (sequence.TimeToFirstToken is null)
        {
            sequence.TimeToFirstToken = now;
            GatewayTelemetry.TimeToFirstToken.Record(now.TotalSeconds, model);
        }
        else
        {
            GatewayTelemetry.InterTokenLatency.Record((now - sequence.LastTokenAt).TotalSeconds, model);
        }
        sequence.LastTokenAt = now;
        GatewayTelemetry.GenerationTokens.Add(1, model);
    }
}
