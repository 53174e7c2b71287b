using Cluster.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Tests.Model;

/// <summary>
/// <see cref="Linear"/>'s paths agree: the decode kernel (rows up to the crossover), past it the packed product (fp32
/// weights on AVX-512 CPUs) or libtorch (bf16 weights, other CPUs), and libtorch under autograd, for fp32 and bf16
/// weights, with and without bias; training keeps its gradients.
/// </summary>
public sealed class LinearTests
{
    [Theory]
    [InlineData(ScalarType.Float32, true)]
    [InlineData(ScalarType.Float32, false)]
    [InlineData(ScalarType.BFloat16, true)]
    [InlineData(ScalarType.BFloat16, false)]
    public void Kernel_and_libtorch_paths_agree_on_every_row_count(ScalarType weightDType, bool withBias)
    {
        using var scope = NewDisposeScope();
        using var inference = torch.inference_mode();
        torch.manual_seed(5);
        var weight = torch.randn(37, 70).to_type(weightDType);         // (out, in)
        var bias = withBias ? torch.randn(37) : null;                   // (out)
        var linear = new Linear(weight, bias);
        var widened = weight.to_type(ScalarType.Float32);               // (out, in): the same values in fp32
        var crossover = LinearCrossover.KernelMaxRows(weightDType);
        for (var rows = 1; rows <= crossover + 11; rows++) // past the crossover: a whole 8-row tile of the packed product and a cut one
        {
            var x = torch.randn(rows, 70);                              // (T, in)
            var actual = linear.Forward(x);                             // (T, out)
            var expected = nn.functional.linear(x, widened, bias);      // (T, out), fp32 products of the same values
            // Past the crossover bf16 weights run on oneDNN's bf16 path, which also rounds x to bf16.
            var tolerance = rows > crossover && weightDType == ScalarType.BFloat16 ? 0.25 : 1e-4;
            Assert.Equal(ScalarType.Float32, actual.dtype);
            TensorAssert.Close(expected, actual, tolerance, $"{weightDType} weights, bias={withBias}, {rows} rows (kernel up to {crossover})");
        }
    }

    [Fact]
    public void Gradients_flow_through_libtorch_when_the_weight_is_trained()
    {
        using var scope = NewDisposeScope();
        var weight = nn.Parameter(torch.randn(6, 5));                    // (out, in)
        var linear = new Linear(weight, null);
        var x = torch.randn(3, 5);                                      // (T, in): 3 rows, a kernel-sized batch
        linear.Forward(x).sum().backward();
        Assert.NotNull(weight.grad);
        var columnSums = torch.ones(6, 3).matmul(x);                      // (out, in): every row Σᵢ x[i]
        TensorAssert.Close(columnSums, weight.grad!, 1e-5, "d(sum of y)/dW = column sums of x in every row");
    }

    [Fact]
    public void A_kernel_call_after_the_weight_is_disposed_fails_instead_of_reading_freed_memory()
    {
        // The kernel path keeps the weight's address from construction; a tied weight's owner may dispose it.
        using var scope = NewDisposeScope();
        using var inference = torch.inference_mode();
        var weight = torch.randn(8, 16);                                 // (out, in)
        var linear = new Linear(weight, null);
        var x = torch.randn(1, 16);                                     // (T, in): one row, the kernel path
        Assert.Equal([1L, 8L], linear.Forward(x).shape);
        weight.Dispose();
        Assert.Throws<ObjectDisposedException>(() => linear.Forward(x));
    }

    [Fact]
    public void A_bias_of_the_wrong_length_fails_naming_both_shapes()
    {
        using var scope = NewDisposeScope();
        var error = Assert.Throws<ArgumentException>(() => new Linear(torch.zeros(4, 3), torch.zeros(5)));
        Assert.Contains("(out) = (4)", error.Message);
        Assert.Contains("[5]", error.Message);
    }
}
