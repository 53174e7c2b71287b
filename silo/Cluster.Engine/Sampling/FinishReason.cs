namespace Cluster.Engine.Sampling;

/// <summary>Why a sequence stopped generating.</summary>
public enum FinishReason
{
    /// <summary>Not finished: keep generating.</summary>
    None,

    /// <summary>An end-of-sequence token or one of <see cref="StopConditions.StopTokenIds"/> was generated.</summary>
    Stop,

    /// <summary><see cref="StopConditions.MaxNewTokens"/> tokens were generated.</summary>
    Length,

    /// <summary>The client cancelled or disconnected. Set by the scheduler; <see cref="StopRule"/> never returns it.</summary>
    Cancelled,
}
