namespace Cluster.Engine.Configuration;

/// <summary>
/// Llama 3 style frequency-dependent RoPE scaling (<c>rope_scaling.rope_type = "llama3"</c> in config.json).
/// Long wavelengths are divided by <see cref="Factor"/>, short ones kept, and the band between blended.
/// </summary>
public sealed record RopeScaling(
    double Factor,
    double LowFrequencyFactor,
    double HighFrequencyFactor,
    int OriginalMaxPositionEmbeddings);
