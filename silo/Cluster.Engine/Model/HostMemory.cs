using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// The address of a CPU tensor's first element, for the C# kernels of Cluster.Kernels that work on libtorch's memory
/// in place. TorchSharp exposes a span only for whole contiguous tensors; views (a narrowed projection, a cache layer)
/// need the pointer itself, which libtorch's <c>data_ptr()</c> gives with the view's storage offset applied.
/// </summary>
internal static class HostMemory
{
    // TorchSharp's own native entry point for Tensor.data_ptr(); it ships in every TorchSharp build.
    [DllImport("LibTorchSharp")]
    private static extern nint THSTensor_data(nint tensor);

    /// <summary>The address of <paramref name="t"/>'s first element; it must be an fp32 CPU tensor. Valid while the tensor lives.</summary>
    public static nint Float32Data(Tensor t)
    {
        if (t.device_type != DeviceType.CPU || t.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"A C# kernel needs an fp32 CPU tensor; this one is {t.dtype} on {t.device}.", nameof(t));
        }
        var address = THSTensor_data(t.Handle);
        if (address == 0)
        {
            throw new InvalidOperationException($"libtorch returned no data pointer for a tensor of shape [{string.Join(", ", t.shape)}].");
        }
        return address;
    }

    /// <summary>True when the tensor's last two dimensions are packed (rows of <paramref name="inner"/> contiguous values).</summary>
    public static bool HasPackedRows(Tensor t, long inner) =>
        t.stride(-1) == 1 && (t.dim() < 3 || t.stride(-2) == inner);
}
