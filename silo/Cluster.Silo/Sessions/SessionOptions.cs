namespace Cluster.Silo.Sessions;

/// <summary>Session grain settings. Section <c>Cluster:Sessions</c>.</summary>
public sealed class SessionOptions
{
    public const string SectionName = "Cluster:Sessions";

    /// <summary>
    /// A turn neither ended nor renewed within this time no longer blocks the session: a later <c>BeginTurn</c> with
    /// another request id takes over (the gateway that began it is presumed dead), and the stale turn's <c>EndTurn</c>
    /// is refused. Gateways renew their running turns every <c>Gateway:SessionTurnRenewPeriod</c> (15 s), which must
    /// stay well below this.
    /// </summary>
    public TimeSpan TurnTimeout { get; set; } = TimeSpan.FromMinutes(1);

    public static readonly TimeSpan DefaultRetention = TimeSpan.FromHours(24);

    /// <summary>
    /// How long Redis keeps a session not written since (each turn writes it). Sessions unused for an hour are cleared
    /// when their grain is collected; this bounds what a crash leaves behind.
    /// </summary>
    public TimeSpan Retention { get; set; } = DefaultRetention;
}
