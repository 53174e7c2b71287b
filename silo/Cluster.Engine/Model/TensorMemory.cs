using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// The address of a CPU tensor's first element, for kernels that read and write tensor memory directly.
/// TorchSharp 0.107 exposes no public data pointer (its <c>bytes</c> span is limited to 2 GiB), so this asks
/// LibTorchSharp's own <c>THSTensor_data</c> (<c>tensor.data_ptr()</c>, storage offset included).
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
        var address = THSTensor_data(tensor.Handle);
        if (address == IntPtr.Zero && tensor.numel() > 0)
        {
            TorchSharp.torch.CheckForErrors();
        }
        return (void*)address;
    }

    [LibraryImport("LibTorchSharp")]
    private static partial IntPtr THSTensor_data(IntPtr handle);
}
