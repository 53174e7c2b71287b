using System.Numerics;
using System.Security.Cryptography;

namespace Cluster.Engine.Sampling;

/// <summary>
/// xoshiro256** 1.0 (Blackman and Vigna, https://prng.di.unimi.it/xoshiro256starstar.c), seeded by expanding one
/// 64-bit seed through SplitMix64 (https://prng.di.unimi.it/splitmix64.c), as the authors recommend.
/// </summary>
/// <remarks>
/// Written out here instead of using <see cref="System.Random"/>, whose algorithm is unspecified and has changed
/// between .NET versions: a client that sends a seed must get the same tokens from every build and machine.
/// Fast, 256 bits of state, passes BigCrush; not cryptographic, which sampling does not need.
/// </remarks>
internal sealed class Xoshiro256StarStar
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Seeds the state with four consecutive SplitMix64 outputs, which are never all zero.</summary>
    public Xoshiro256StarStar(ulong seed)
    {
        ulong splitMixState = seed;
        _s0 = SplitMix64(ref splitMixState);
        _s1 = SplitMix64(ref splitMixState);
        _s2 = SplitMix64(ref splitMixState);
        _s3 = SplitMix64(ref splitMixState);
    }

    /// <summary>Sets the raw state; only for checking against the reference implementation's published outputs.</summary>
    internal Xoshiro256StarStar(ulong s0, ulong s1, ulong s2, ulong s3) => (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);

    /// <summary>A seed from the operating system's cryptographic generator, for requests that did not send one.</summary>
    public static ulong NondeterministicSeed()
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        RandomNumberGenerator.Fill(bytes);
        return BitConverter.ToUInt64(bytes);
    }

    /// <summary>One step of SplitMix64: advances <paramref name="state"/> and returns the mixed output.</summary>
    public static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform double in [0, 1): the top 53 bits scaled by 2^-53, so every value is exact and 1 is never returned.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
