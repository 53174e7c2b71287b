using Cluster.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Configuration;

/// <summary>The resolved device and dtypes of <see cref="EngineOptions"/>.</summary>
/// <param name="DType">Activations, embeddings, norms, biases, KV cache.</param>
/// <param name="WeightDType">Weight matrices of the linear layers: <paramref name="DType"/>, or bf16 under fp32 activations.</param>
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
        var weightDType = options.WeightDType.ToLowerInvariant() switch
        {
            "auto" => dtype,
            "float32" or "fp32" => ScalarType.Float32,
            "bfloat16" or "bf16" => ScalarType.BFloat16,
            _ => throw new ArgumentException($"Engine WeightDType \"{options.WeightDType}\" is not one of auto, float32, bfloat16."),
        };
        if (weightDType != dtype && !(dtype == ScalarType.Float32 && weightDType == ScalarType.BFloat16))
        {
            throw new ArgumentException($"Engine WeightDType \"{options.WeightDType}\" with DType \"{options.DType}\": weights may differ from the activations only as bfloat16 weights under float32 activations.");
        }
        var kvDType = options.KvCacheDType.ToLowerInvariant() switch
        {
            "auto" => dtype,
            "float32" or "fp32" => ScalarType.Float32,
            "bfloat16" or "bf16" => ScalarType.BFloat16,
            _ => throw new ArgumentException($"Engine KvCacheDType \"{options.KvCacheDType}\" is not one of auto, float32, bfloat16."),
        };
        if (kvDType != dtype && !(dtype == ScalarType.Float32 && kvDType == ScalarType.BFloat16))
        {
            throw new ArgumentException($"Engine KvCacheDType \"{options.KvCacheDType}\" with DType \"{options.DType}\": the cache may differ from the activations only as a bfloat16 cache under float32 activations.");
        }
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
