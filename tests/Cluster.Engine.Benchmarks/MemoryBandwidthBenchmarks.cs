using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Benchmarks;

/// <summary>
/// The machine's copy bandwidth, for the batch-1 decode floor: a decode step must read every weight once, so
/// it cannot beat weight bytes ÷ bandwidth. Copies 512 MiB (larger than any cache) with libtorch's own copy.
/// </summary>
public class MemoryBandwidthBenchmarks
{
    public const long Bytes = 512L * 1024 * 1024;
    private Tensor _source = null!;
    private Tensor _destination = null!;

    [GlobalSetup]
    public void Setup()
    {
        _source = torch.rand(Bytes / 4, ScalarType.Float32);
        _destination = torch.empty(Bytes / 4, ScalarType.Float32);
        _destination.copy_(_source); // fault the pages in before timing
    }

    [Benchmark]
    public void Copy512MiB() => _destination.copy_(_source);

    [GlobalCleanup]
    public void Cleanup()
    {
        _source.Dispose();
        _destination.Dispose();
    }
}
