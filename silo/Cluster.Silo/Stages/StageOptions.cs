using Cluster.Engine.Configuration;
using Microsoft.Extensions.Options;

namespace Cluster.Silo.Stages;

/// <summary>How the stage grains of this silo compute and how much KV cache each may hold. Section <c>Cluster:Stages</c>.</summary>
public sealed class StageOptions
{
    public const string SectionName = "Cluster:Stages";

    /// <summary>KV-cache bytes one stage grain may hold for all its sessions together.</summary>
    public long KvBudgetBytes { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>A session's caches are freed after this long without a step (idle between turns, or abandoned).</summary>
    public TimeSpan IdleSessionExpiry { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often each stage grain looks for expired sessions.</summary>
    public TimeSpan ExpiryCheckPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How often each stage grain checks whether it should move to a silo that hosts no stage (while its own silo hosts
    /// several and no sequence runs on it); zero turns moving off. See <c>StageGrain.Rebalance.cs</c>.
    /// </summary>
    public TimeSpan RebalanceCheckPeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Passed to <see cref="EngineOptions.Device"/>: auto, cpu, cuda, cuda:N.</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Passed to <see cref="EngineOptions.DType"/>: auto, float32, bfloat16, float16.</summary>
    public string DType { get; set; } = "auto";

    /// <summary>
    /// Passed to <see cref="EngineOptions.WeightDType"/>: auto (as DType), float32, bfloat16, int8. bfloat16 under float32
    /// DType keeps the linear layers' weights in bf16 (half the bytes a decode step reads) and everything else fp32;
    /// int8 (CPU, float32 DType) keeps them as llama.cpp's Q8_0 blocks (8.5 bits a weight).
    /// </summary>
    public string WeightDType { get; set; } = "auto";

    /// <summary>
    /// Passed to <see cref="EngineOptions.KvCacheDType"/>: auto (as DType), float32, bfloat16. bfloat16 under float32
    /// DType halves each session's KV cache (twice the positions in <see cref="KvBudgetBytes"/>) and the bytes a decode
    /// step's attention reads.
    /// </summary>
    public string KvCacheDType { get; set; } = "auto";

    /// <summary>Intra-op CPU threads (process-wide in libtorch); null keeps libtorch's default of one per core.</summary>
    public int? CpuThreads { get; set; }

    public EngineOptions ToEngineOptions() =>
        new() { Device = Device, DType = DType, WeightDType = WeightDType, KvCacheDType = KvCacheDType, CpuThreads = CpuThreads };

    /// <summary>The engine options for one model's stages: the model's own WeightDType where its entry sets one.</summary>
    public EngineOptions ToEngineOptions(Cluster.Hosting.ModelDeployment model) =>
        ToEngineOptions() with { WeightDType = string.IsNullOrWhiteSpace(model.WeightDType) ? WeightDType : model.WeightDType.Trim() };
}

internal sealed class StageOptionsValidator : IValidateOptions<StageOptions>
{
    public ValidateOptionsResult Validate(string? name, StageOptions options)
    {
        var failures = new List<string>();
        if (options.KvBudgetBytes <= 0)
        {
            failures.Add($"{StageOptions.SectionName}:KvBudgetBytes must be > 0; got {options.KvBudgetBytes}.");
        }
        if (options.IdleSessionExpiry <= TimeSpan.Zero)
        {
            failures.Add($"{StageOptions.SectionName}:IdleSessionExpiry must be positive; got {options.IdleSessionExpiry}.");
        }
        if (options.ExpiryCheckPeriod <= TimeSpan.Zero)
        {
            failures.Add($"{StageOptions.SectionName}:ExpiryCheckPeriod must be positive; got {options.ExpiryCheckPeriod}.");
        }
        if (options.RebalanceCheckPeriod < TimeSpan.Zero)
        {
            failures.Add($"{StageOptions.SectionName}:RebalanceCheckPeriod must be zero (off) or positive; got {options.RebalanceCheckPeriod}.");
        }
        if (options.CpuThreads is < 1)
        {
            failures.Add($"{StageOptions.SectionName}:CpuThreads must be at least 1 when set; got {options.CpuThreads}.");
        }
        if (string.IsNullOrWhiteSpace(options.Device) || string.IsNullOrWhiteSpace(options.DType) || string.IsNullOrWhiteSpace(options.WeightDType)
            || string.IsNullOrWhiteSpace(options.KvCacheDType))
        {
            failures.Add($"{StageOptions.SectionName}:Device, DType, WeightDType and KvCacheDType must not be empty (use \"auto\").");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
