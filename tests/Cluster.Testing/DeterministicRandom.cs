namespace Cluster.Testing;

/// <summary>
/// SplitMix64 with Box–Muller normals: the same seed gives the same weights on every machine and .NET version,
/// so a test checkpoint is reproducible byte for byte.
/// </summary>
public sealed class DeterministicRandom(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public float NextNormal(float std)
    {
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        return (float)(std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    public float[] Normal(long count, float std, float mean = 0f)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++)
        {
            values[i] = mean + NextNormal(std);
        }
        return values;
    }
}
