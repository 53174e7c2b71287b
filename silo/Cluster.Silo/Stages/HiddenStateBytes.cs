using Cluster.Contracts.Stages;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Silo.Stages;

/// <summary>Hidden states between a tensor on the stage's device and the raw bytes that travel between stages.</summary>
internal static class HiddenStateBytes
{
    public static string DTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => throw new NotSupportedException($"Hidden states in {dtype} are not supported."),
    };

    public static int ElementSize(ScalarType dtype) => dtype == ScalarType.Float32 ? 4 : 2;

    /// <summary>(Tokens, Width) on <paramref name="device"/>; the bytes were checked against the shape and dtype already.</summary>
    public static Tensor ToTensor(HiddenStates hidden, ScalarType dtype, Device device)
    {
        using var scope = torch.NewDisposeScope();
        var cpu = torch.empty([hidden.Tokens, hidden.Width], dtype, torch.CPU); // (T, H)
        hidden.Data.AsSpan().CopyTo(cpu.bytes);
        return cpu.to(device).MoveToOuterDisposeScope(); // (T, H)
    }

    /// <summary>Copies (T, H) hidden states out as bytes in their own dtype.</summary>
    public static HiddenStates FromTensor(Tensor hidden)
    {
        using var scope = torch.NewDisposeScope();
        var cpu = hidden.cpu().contiguous(); // (T, H)
        return new HiddenStates(cpu.bytes.ToArray(), (int)hidden.shape[0], (int)hidden.shape[1], DTypeName(hidden.dtype));
    }
}
