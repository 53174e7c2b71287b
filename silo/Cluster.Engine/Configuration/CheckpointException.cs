namespace Cluster.Engine.Configuration;

/// <summary>
/// A checkpoint directory that cannot be used: missing or malformed config, missing, unexpected or wrongly
/// shaped tensors, truncated or corrupt files. The message names the file and what was expected.
/// </summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string message) : base(message)
    {
    }

    public CheckpointException(string message, Exception inner) : base(message, inner)
    {
    }
}
