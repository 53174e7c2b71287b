using Microsoft.Extensions.Options;

namespace Cluster.Hosting;

/// <summary>
/// The one check of <c>Cluster:Models</c>, run at start by every silo and gateway: each failure names the entry's key
/// (<c>Cluster:Models:i</c>), the setting, its limit and the value seen. An empty list is valid here (a silo may host
/// sessions only); the gateway refuses it separately, since it would have nothing to serve.
/// </summary>
public sealed class ClusterModelsOptionsValidator : IValidateOptions<ClusterModelsOptions>
{
    // What the engine's ComputePlacement accepts for weights (it is not referenced here: hosting never loads the engine).
    private static readonly string[] WeightDTypes = ["", "auto", "float32", "fp32", "bfloat16", "bf16", "int8"];

    public ValidateOptionsResult Validate(string? name, ClusterModelsOptions options)
    {
        var failures = new List<string>();
        foreach (var (model, i) in options.Models.Select((m, i) => (m, i)))
        {
            var where = $"Cluster:Models:{i} ('{model.Name}')";
            if (string.IsNullOrWhiteSpace(model.Name) || model.Name.Contains('/'))
            {
                failures.Add($"{where}: Name must be non-empty and contain no '/' (stage keys are model/replica/stage).");
            }
            if (string.IsNullOrWhiteSpace(model.Path))
            {
                failures.Add($"{where}: Path (the checkpoint directory) is empty.");
            }
            if (model.Stages < 1 || model.Replicas < 1)
            {
                failures.Add($"{where}: Stages and Replicas must be at least 1; got {model.Stages} and {model.Replicas}.");
            }
            if (!WeightDTypes.Contains(model.WeightDType.Trim(), StringComparer.OrdinalIgnoreCase))
            {
                failures.Add($"{where}: WeightDType '{model.WeightDType}' is not one of {string.Join(", ", WeightDTypes.Select(w => w.Length == 0 ? "empty (the silo's Cluster:Stages:WeightDType)" : w))}.");
            }
            if (model.LayerSplit.Length != 0 && (model.LayerSplit.Length != model.Stages || model.LayerSplit.Any(n => n < 1)))
            {
                failures.Add($"{where}: LayerSplit [{string.Join(", ", model.LayerSplit)}] must have one count >= 1 per stage ({model.Stages}).");
            }
        }
        foreach (var duplicate in options.Models.GroupBy(m => m.Name).Where(g => g.Count() > 1))
        {
            failures.Add($"Cluster:Models: the name '{duplicate.Key}' is used {duplicate.Count()} times.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
