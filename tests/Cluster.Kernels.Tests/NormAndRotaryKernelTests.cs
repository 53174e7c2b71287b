using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Kernels.Tests;

/// <summary>
/// RMSNorm and rotary kernels against the libtorch operations the engine runs elsewhere (RmsNorm.Forward's and
/// RotaryEmbedding.Apply's), on widths and head dimensions that are not multiples of the vector width and on strided rows.
/// </summary>
public sealed class NormAndRotaryKernelTests
{
    [Theory]
    [InlineData(1, 768, 768)]
    [InlineData(3, 17, 17)]
    [InlineData(5, 40, 57)] // rows 57 floats apart: a narrowed view
    [InlineData(2, 1, 1)]
    public void RmsNorm_matches_libtorch(int rows, int width, int rowStride)
    {
        const double epsilon = 1e-5;
        using var scope = torch.NewDisposeScope();
        var storage = torch.randn(rows, rowStride, generator: new Generator((ulong)(rows * 100 + width))) * 3; // (rows, stride)
        var x = storage.narrow(1, 0, width);                                                          // (rows, width)
        var weight = torch.rand(width, generator: new Generator(7)) + 0.5f;                          // (width)
        var output = torch.empty(rows, width);
        RmsNormKernel.Run(Address(storage), rowStride, Address(weight.contiguous()), Address(output), rows, width, (float)epsilon);
        var reference = x.mul(x.pow(2).mean([-1L], keepdim: true).add(epsilon).rsqrt()).mul(weight); // (rows, width)
        var difference = (output - reference).abs().max().item<float>();
        var scale = reference.abs().max().item<float>();
        Assert.True(difference <= 4e-7f * Math.Max(1f, scale),
            $"RMSNorm rows {rows}, width {width}, stride {rowStride}: differs from libtorch by {difference} (values up to {scale}).");
    }

    [Theory]
    [InlineData(1, 12, 64, 768)]
    [InlineData(4, 3, 6, 18)]
    [InlineData(3, 2, 40, 200)] // rows 200 floats apart, as q inside the fused q/k/v projection
    [InlineData(2, 5, 34, 170)]
    public void Rotary_matches_libtorch_to_the_bit(int tokens, int heads, int headDim, int rowStride)
    {
        const int tablePositions = 300;
        using var scope = torch.NewDisposeScope();
        var frequencies = torch.pow(10000f, torch.arange(0, headDim, 2, ScalarType.Float32) / -headDim);          // (headDim/2)
        var angles = torch.outer(torch.arange(tablePositions, ScalarType.Float32), frequencies);                    // (P, headDim/2)
        var doubled = torch.cat([angles, angles], 1);                                                              // (P, headDim)
        var (cos, sin) = (doubled.cos().contiguous(), doubled.sin().contiguous());
        var positions = Enumerable.Range(0, tokens).Select(t => (t * 97 + 5) % tablePositions).ToArray();
        var storage = torch.randn(tokens, rowStride, generator: new Generator((ulong)(tokens + heads)));                    // (T, stride)
        var x = storage.narrow(1, 0, heads * headDim).view(tokens, heads, headDim);                                // (T, heads, headDim)

        var positionTensor = torch.tensor(positions.Select(p => (long)p).ToArray());
        var c = cos.index_select(0, positionTensor).unsqueeze(1);                                                  // (T, 1, headDim)
        var s = sin.index_select(0, positionTensor).unsqueeze(1);
        var half = headDim / 2;
        var rotated = torch.cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);                     // (T, heads, headDim)
        var reference = x.mul(c).add(rotated.mul(s));
        var untouched = storage.narrow(1, heads * headDim, rowStride - heads * headDim).clone();                   // beyond the heads

        RotaryKernel.RotateInPlace(Address(storage), rowStride, heads, headDim, positions, Address(cos), Address(sin), tablePositions);

        var expected = reference.flatten().data<float>().ToArray();
        var actual = x.flatten().data<float>().ToArray();
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(expected[i].Equals(actual[i]), $"rotary tokens {tokens}, heads {heads}, headDim {headDim}: element {i} is {actual[i]}, libtorch gives {expected[i]}.");
        }
        Assert.True(untouched.flatten().data<float>().ToArray().SequenceEqual(storage.narrow(1, heads * headDim, rowStride - heads * headDim).flatten().data<float>().ToArray()),
            "the kernel wrote beyond the heads of a row");
    }

    [Fact]
    public void Rotary_refuses_a_position_outside_the_tables()
    {
        var buffer = new float[8];
        var handle = GCHandle.Alloc(buffer, GCHandleType.Pinned);
        try
        {
            var p = handle.AddrOfPinnedObject();
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => RotaryKernel.RotateInPlace(p, 4, 1, 4, [2], p, p, 2));
            Assert.Contains("position 2, outside the rotary tables' 2 positions", error.Message);
        }
        finally
        {
            handle.Free();
        }
    }

    // A CPU fp32 tensor's first element: its storage offset applied to the contiguous base.
    private static nint Address(Tensor t)
    {
        Assert.Equal(ScalarType.Float32, t.dtype);
        return THSTensor_data(t.Handle);
    }

    [DllImport("LibTorchSharp")]
    private static extern nint THSTensor_data(nint tensor);
}
