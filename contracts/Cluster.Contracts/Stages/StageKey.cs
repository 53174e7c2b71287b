namespace Cluster.Contracts.Stages;

/// <summary>The identity of a stage grain: "model/replica/stage", e.g. "smollm2/0/1".</summary>
[GenerateSerializer, Immutable]
public sealed record StageKey([property: Id(0)] string Model, [property: Id(1)] int Replica, [property: Id(2)] int Stage)
{
    public override string ToString() => $"{Model}/{Replica}/{Stage}";

    public static StageKey Parse(string key)
    {
        var parts = key.Split('/');
        if (parts.Length != 3 || !int.TryParse(parts[1], out var replica) || !int.TryParse(parts[2], out var stage) || replica < 0 || stage < 0)
        {
            throw new FormatException($"'{key}' is not a stage key of the form model/replica/stage.");
        }
        return new StageKey(parts[0], replica, stage);
    }
}
