using Cluster.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Configuration;

/// <summary>The resolved device and dtypes of <see cref="EngineOptions"/>.</summary>
/// <param name="DType">Activations, embeddings, norms, biases.</param>
/// <param name="WeightDType">
/// Weight matrices of the linear layers: <paramref name="DType"/>, or bf16 under fp32 activations, or
/// <see cref="ScalarType.Int8"/> for 8-bit blocks (<see cref="Int8Matrix"/>, CPU, fp32 activations).
/// </param>
/// <param name="KvDType">The KV cache: <paramref name="DType"/>, or bf16 under fp32 activations.</param>
public sealed record ComputePlacement(Device Device, ScalarType DType, ScalarType WeightDType, ScalarType KvDType)
{
    public static ComputePlacement Resolve(EngineOptions options)
    {
        var device = ResolveDevice(options.Device);
        var dtype = options.DType.ToLowerInvariant() switch
        {
            "auto" => device.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32,
            "float32" or "fp32" => ScalarType.Float32,
            "bfloat16" or "bf16" => ScalarType.BFloat16,
            "float16" or "fp16" => ScalarType.Float16,
            _ => throw new ArgumentException($"Engine dtype \"{options.DType}\" is not one of auto, float32, bfloat16, float16."),
        };
        var weightDType = IsInt8(options.WeightDType)
            ? Int8Weights(device, dtype)
            : NarrowedDType(options.WeightDType, nameof(options.WeightDType), dtype, "weights");
        var kvDType = NarrowedDType(options.KvCacheDType, nameof(options.KvCacheDType), dtype, "the KV cache");
        if (options.CpuThreads is { } threads)
        {
            if (threads < 1)
            {
                throw new ArgumentException($"Engine CpuThreads must be at least 1, was {threads}.");
            }
            torch.set_num_threads(threads);
            KernelTeam.UseSharedThreads(threads);
        }
        return new ComputePlacement(device, dtype, weightDType, kvDType);
    }

    /// <summary>Whether weight matrices are kept as 8-bit blocks rather than a torch dtype.</summary>
    public bool Int8WeightBlocks => WeightDType == ScalarType.Int8;

    /// <summary>int8 blocks on a CPU without AVX2: their kernel runs its scalar reference, right but slow.</summary>
    public bool Int8WeightsUnaccelerated => Int8WeightBlocks && !Int8LinearKernel.IsAccelerated;

    /// <summary>The weights' dtype as options and status name it: float32, bfloat16, float16 or int8.</summary>
    public string WeightDTypeName => WeightDType switch
    {
        ScalarType.Int8 => "int8",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => "float32",
    };

    private static bool IsInt8(string value) => value.Trim().Equals("int8", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// int8 weights: llama.cpp's Q8_0 blocks multiplied by <see cref="Int8LinearKernel"/>, which runs on the CPU and
    /// reads fp32 activations (through AVX-VNNI, or AVX2 where the CPU lacks it; on a CPU without AVX2 through its
    /// scalar reference: right, but slow).
    /// </summary>
    private static ScalarType Int8Weights(Device device, ScalarType activations)
    {
        if (device.type != DeviceType.CPU)
        {
            throw new ArgumentException($"Engine WeightDType \"int8\" runs on the CPU only; device {device} keeps its weights in float32, bfloat16 or float16.");
        }
        if (activations != ScalarType.Float32)
        {
            throw new ArgumentException($"Engine WeightDType \"int8\" needs float32 activations (DType), was {activations}.");
        }
        return ScalarType.Int8;
    }

    /// <summary>
    /// A part's dtype that may be the activations' (<c>auto</c>, or named) or bf16 under fp32 activations: the weight
    /// matrices and the KV cache each keep fp32's arithmetic on bf16 storage.
    /// </summary>
    private static ScalarType NarrowedDType(string value, string option, ScalarType activations, string part)
    {
        var chosen = value.ToLowerInvariant() switch
        {
            "auto" => activations,
            "float32" or "fp32" => ScalarType.Float32,
            "bfloat16" or "bf16" => ScalarType.BFloat16,
            _ => throw new ArgumentException($"Engine {option} \"{value}\" is not one of auto, float32, bfloat16{(option == nameof(EngineOptions.WeightDType) ? ", int8" : "")}."),
        };
        if (chosen != activations && !(activations == ScalarType.Float32 && chosen == ScalarType.BFloat16))
        {
            throw new ArgumentException(
                $"Engine {option} \"{value}\" with activations in {activations}: {part} may differ from the activations only as bfloat16 under float32 activations.");
        }
        return chosen;
    }

    private static Device ResolveDevice(string name)
    {
        var lower = name.ToLowerInvariant();
        if (lower == "auto")
        {
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        }
        if (lower == "cpu")
        {
            return torch.CPU;
        }
        if (lower.StartsWith("cuda", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
            {
                throw new ArgumentException($"Engine device \"{name}\" requested but CUDA is not available in this build or on this machine (build GPU images with -p:TorchDevice=cuda).");
            }
            return torch.device(lower);
        }
        throw new ArgumentException($"Engine device \"{name}\" is not one of auto, cpu, cuda, cuda:N.");
    }
}
