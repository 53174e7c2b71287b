using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>Which instructions <see cref="Int8LinearKernel"/> multiplies its bytes with; every path gives the same bits.</summary>
public enum Int8DotPath
{
    /// <summary>Plain C#, one product at a time: the reference the vector paths are tested against.</summary>
    Scalar,

    /// <summary>AVX2 and FMA: each 4-byte dot product from VPMADDUBSW and VPMADDWD.</summary>
    Avx2,

    /// <summary>AVX-VNNI (with AVX2 and FMA): each 4-byte dot product one VPDPBUSD.</summary>
    AvxVnni,
}

public static class Int8DotPaths
{
    /// <summary>Whether <paramref name="path"/> runs on this CPU.</summary>
    public static bool IsSupported(Int8DotPath path) => path switch
    {
        Int8DotPath.Scalar => true,
        Int8DotPath.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        Int8DotPath.AvxVnni => AvxVnni.IsSupported && Avx2.IsSupported && Fma.IsSupported,
        _ => false,
    };

    /// <summary>The instruction sets <paramref name="path"/> needs, for messages.</summary>
    public static string Needs(Int8DotPath path) => path switch
    {
        Int8DotPath.Scalar => "nothing",
        Int8DotPath.Avx2 => "AVX2 and FMA",
        Int8DotPath.AvxVnni => "AVX-VNNI, AVX2 and FMA",
        _ => $"a path this build does not know ({(int)path})",
    };
}
