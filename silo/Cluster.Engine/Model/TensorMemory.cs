using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// The address of a CPU tensor's first element, for the C# kernels of Cluster.Kernels that read and write libtorch's
/// memory in place. TorchSharp 0.107 exposes no public data pointer (its <c>bytes</c> span covers whole contiguous
/// tensors only, up to 2 GiB), so this asks LibTorchSharp's own <c>THSTensor_data</c> (<c>tensor.data_ptr()</c>, with
/// a view's storage offset applied: a narrowed projection or one cache layer gets its own first element).
/// </summary>
public static partial class TensorMemory
{
    /// <summary>The first element's address; the tensor must be on the CPU and contiguous, and outlive every use of the address.</summary>
    public static unsafe void* Address(Tensor tensor)
    {
        if (tensor.device_type != DeviceType.CPU || !tensor.is_contiguous())
        {
            throw new ArgumentException($"Direct memory access needs a contiguous CPU tensor; this one is on {tensor.device} and {(tensor.is_contiguous() ? "contiguous" : "strided")}.", nameof(tensor));
        }
        return (void*)DataPointer(tensor);
    }

    /// <summary>
    /// The first element's address of an fp32 CPU tensor that may be a strided view (the caller passes its strides to
    /// the kernel). Valid while the tensor lives.
    /// </summary>
    public static nint Float32Data(Tensor tensor)
    {
        if (tensor.device_type != DeviceType.CPU || tensor.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"A C# kernel needs an fp32 CPU tensor; this one is {tensor.dtype} on {tensor.device}.", nameof(tensor));
        }
        return DataPointer(tensor);
    }

    /// <summary>True when the tensor's last two dimensions are packed (rows of <paramref name="inner"/> contiguous values).</summary>
    public static bool HasPackedRows(Tensor tensor, long inner) =>
        tensor.stride(-1) == 1 && (tensor.dim() < 3 || tensor.stride(-2) == inner);

    private static nint DataPointer(Tensor tensor)
    {
        var address = THSTensor_data(tensor.Handle);
        if (address == 0 && tensor.numel() > 0)
        {
            TorchSharp.torch.CheckForErrors();
            throw new InvalidOperationException($"libtorch returned no data pointer for a tensor of shape [{string.Join(", ", tensor.shape)}].");
        }
        return address;
    }

    [LibraryImport("LibTorchSharp")]
    private static partial nint THSTensor_data(nint handle);
}
