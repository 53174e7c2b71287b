using BenchmarkDotNet.Attributes;
using Cluster.Engine.Model;
using Cluster.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Benchmarks;

/// <summary>
/// The 49 weight matrices of issue #12's GPT-2-small-sized Llama (Cluster.Testing.BenchmarkCheckpoints.Llama124M:
/// 12 layers of fused q/k/v (2304, 768), output (768, 768), fused gate/up (4096, 768), down (768, 2048), and the
/// (50257, 768) LM head; 123.5 M weights), random values of the same shapes, applied to 1, 8 and 32 rows:
/// libtorch's <c>linear</c> and our kernel, each with fp32 and bf16 weights. <see cref="Way.OursFp32AfterLibtorchOp"/>
/// runs a multi-threaded libtorch element-wise op before every matrix, as a decode step does (norms, activations),
/// to show whether libtorch's OpenMP threads, spinning after their region, slow our workers down;
/// <see cref="Way.LibtorchOpOnly"/> is that op alone, to subtract.
/// </summary>
public class LinearLayersBenchmarks
{
    public enum Way { LibtorchFp32, LibtorchBf16, OursFp32, OursBf16, OursFp32AfterLibtorchOp, LibtorchOpOnly }

    /// <summary>(out, in) of each matrix, in the model's order.</summary>
    public static readonly (int Out, int In)[] Shapes = Enumerable.Range(0, 12)
        .SelectMany(_ => new[] { (2304, 768), (768, 768), (4096, 768), (768, 2048) })
        .Append((50257, 768))
        .ToArray();

    public static long WeightCount => Shapes.Sum(s => (long)s.Out * s.In);

    private Tensor[] _fp32 = [];
    private Tensor[] _bf16 = [];
    private Tensor[] _inputs = [];    // (rows, in) per distinct in-features
    private Tensor _elementwise = null!;

    [Params(1, 8, 32)]
    public int Rows { get; set; }

    [Params(Way.LibtorchFp32, Way.LibtorchBf16, Way.OursFp32, Way.OursBf16, Way.OursFp32AfterLibtorchOp, Way.LibtorchOpOnly)]
    public Way How { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        torch.manual_seed(1);
        _fp32 = Shapes.Select(s => torch.randn(s.Out, s.In).mul_(0.02)).ToArray();      // (out, in)
        _bf16 = _fp32.Select(w => w.to_type(ScalarType.BFloat16)).ToArray();            // (out, in) bf16
        _inputs = Shapes.Select(s => torch.randn(Rows, s.In)).ToArray();                // (rows, in)
        _elementwise = torch.randn(64, 2048);                                           // 128 Ki elements: above libtorch's parallel grain
    }

    [Benchmark]
    public float FortyNineMatrices()
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        Tensor? last = null;
        for (var i = 0; i < Shapes.Length; i++)
        {
            var x = _inputs[i];
            last = How switch
            {
                Way.LibtorchFp32 => nn.functional.linear(x, _fp32[i]),                                                            // (rows, out)
                Way.LibtorchBf16 => nn.functional.linear(x.to_type(ScalarType.BFloat16), _bf16[i]).to_type(ScalarType.Float32), // (rows, out)
                Way.OursFp32 => Ours(x, i, bf16: false),
                Way.OursBf16 => Ours(x, i, bf16: true),
                Way.OursFp32AfterLibtorchOp => Ours(x, i, bf16: false, _elementwise.mul_(1.0f)),
                Way.LibtorchOpOnly => _elementwise.mul_(1.0f),
                _ => throw new InvalidOperationException(How.ToString()),
            };
        }
        return last!.numel();
    }

    private unsafe Tensor Ours(Tensor x, int i, bool bf16, Tensor? before = null)
    {
        var (outFeatures, inFeatures) = Shapes[i];
        var y = torch.empty(Rows, outFeatures);                                             // (rows, out)
        var xs = (float*)TensorMemory.Address(x);
        var ys = (float*)TensorMemory.Address(y);
        if (bf16)
        {
            LinearKernel.BFloat16(xs, Rows, inFeatures, (ushort*)TensorMemory.Address(_bf16[i]), outFeatures, null, ys);
        }
        else
        {
            LinearKernel.Float32(xs, Rows, inFeatures, (float*)TensorMemory.Address(_fp32[i]), outFeatures, null, ys);
        }
        GC.KeepAlive(before);
        return y;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in _fp32.Concat(_bf16).Concat(_inputs))
        {
            t.Dispose();
        }
        _elementwise.Dispose();
    }
}
