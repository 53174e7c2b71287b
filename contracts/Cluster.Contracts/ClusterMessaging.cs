namespace Cluster.Contracts;

/// <summary>Messaging settings that silos and their clients (gateways) must agree on.</summary>
public static class ClusterMessaging
{
    /// <summary>
    /// Largest Orleans message body, in bytes, set on silos (<c>SiloMessagingOptions</c>) and gateways
    /// (<c>ClientMessagingOptions</c>) alike: 256 MiB, room for the hidden states of a 4096-token prefill chunk at
    /// width 8192 in float32 (128 MiB) with headroom. Orleans' default, 100 MB, would reject such a chunk.
    /// </summary>
    public const int MaxMessageBodySize = 256 * 1024 * 1024;
}
