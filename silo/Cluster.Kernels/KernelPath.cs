using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>Which instruction set a kernel runs on. <see cref="Best"/> is what this CPU supports.</summary>
public enum KernelPath
{
    /// <summary>Plain C#, one multiply-add at a time: the reference the vector paths are tested against.</summary>
    Scalar,

    /// <summary>AVX2 + FMA, 8 lanes.</summary>
    Vector256,

    /// <summary>AVX-512F, 16 lanes.</summary>
    Vector512,
}

public static class KernelPaths
{
    /// <summary>The widest path this CPU runs natively.</summary>
    public static KernelPath Best { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? KernelPath.Vector512
        : Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported ? KernelPath.Vector256
        : KernelPath.Scalar;

    /// <summary>Whether <paramref name="path"/> can run on this CPU.</summary>
    public static bool IsSupported(KernelPath path) => path <= Best;
}
