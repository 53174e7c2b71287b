using Cluster.Contracts.Sessions;

namespace Cluster.Silo.Sessions;

/// <summary>
/// What a session grain keeps in grain storage: the conversation and the turn in progress, so that a session whose
/// silo died continues on another silo with its history, and a turn that was running when it died can still end.
/// </summary>
[GenerateSerializer]
public sealed class SessionRecord
{
    /// <summary>Null: no such session (never created, or deleted).</summary>
    [Id(0)] public SessionSnapshot? Session { get; set; }

    /// <summary>The request whose turn is running; null between turns.</summary>
    [Id(1)] public string? Turn { get; set; }

    [Id(2)] public DateTimeOffset TurnStarted { get; set; }
}
