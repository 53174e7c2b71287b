namespace Cluster.Silo.Responses;

/// <summary>What a silo keeps of the Responses API's stored responses. Section <c>Cluster:StoredResponses</c>.</summary>
public sealed class StoredResponseOptions
{
    public const string SectionName = "Cluster:StoredResponses";

    /// <summary>The most bytes of stored responses one silo keeps; past it the least recently used are dropped.</summary>
    public long MaxBytes { get; set; } = 256L << 20;

    /// <summary>A stored response unused this long is dropped (its grain is collected after the same hour).</summary>
    public TimeSpan KeepFor { get; set; } = TimeSpan.FromMinutes(55);
}
