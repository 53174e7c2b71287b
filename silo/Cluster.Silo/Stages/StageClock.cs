namespace Cluster.Silo.Stages;

/// <summary>
/// The key of the <see cref="TimeProvider"/> that session expiry and turn timeouts read. A keyed service of its own, so
/// tests can put a fake clock here without stopping the clocks Orleans itself runs on.
/// </summary>
public static class StageClock
{
    public const string Key = "Cluster.StageClock";
}
