namespace Cluster.Kernels;

/// <summary>
/// A tile's row count as a type parameter: the JIT specialises the tile loop per count and drops the
/// accumulators of absent rows, so one source serves every tile from 1×1 to its largest without branches in the
/// inner loop.
/// </summary>
internal interface IRowCount
{
    static abstract int Count { get; }
}

internal readonly struct OneRow : IRowCount { public static int Count => 1; }
internal readonly struct TwoRows : IRowCount { public static int Count => 2; }
internal readonly struct ThreeRows : IRowCount { public static int Count => 3; }
internal readonly struct FourRows : IRowCount { public static int Count => 4; }
internal readonly struct FiveRows : IRowCount { public static int Count => 5; }
internal readonly struct SixRows : IRowCount { public static int Count => 6; }
internal readonly struct SevenRows : IRowCount { public static int Count => 7; }
internal readonly struct EightRows : IRowCount { public static int Count => 8; }
