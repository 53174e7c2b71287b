using TorchSharp;
using Cluster.Engine.Model;
using static TorchSharp.torch;

namespace Cluster.Engine.Training;

/// <summary>A model's perplexity on a token stream, as the serving engine computes it.</summary>
public sealed record PerplexityResult(double MeanLoss, long PredictedTokens)
{
    public double Perplexity => Math.Exp(MeanLoss);
}

/// <summary>
/// Perplexity through the inference path (<see cref="ModelShard.Forward"/> with a fresh KV cache per window), so
/// it measures exactly what is served: the stream is cut into non-overlapping windows of
/// <c>windowLength</c> + 1 tokens, and every token after a window's first is predicted from those before it.
/// </summary>
public static class HeldOutPerplexity
{
    public static PerplexityResult Compute(ModelShard model, IReadOnlyList<int> tokens, int windowLength, int maxWindows = int.MaxValue)
    {
        if (!model.HasEmbedding || !model.HasHead)
        {
            throw new ArgumentException("Perplexity needs the shard of all layers.", nameof(model));
        }
        if (windowLength < 1 || windowLength > model.Config.ContextLength)
        {
            throw new ArgumentOutOfRangeException(nameof(windowLength), $"Must be between 1 and the context length {model.Config.ContextLength}.");
        }
        double total = 0;
        long predicted = 0;
        for (var start = 0; start + windowLength < tokens.Count && predicted / windowLength < maxWindows; start += windowLength)
        {
            var inputs = tokens.Skip(start).Take(windowLength).ToArray();
            var targets = tokens.Skip(start + 1).Take(windowLength).Select(t => (long)t).ToArray();
            using var scope = torch.NewDisposeScope();
            using var cache = model.CreateCache(windowLength);
            var logits = model.Forward([SequenceChunk.ForTokens(cache, 0, inputs)], allPositions: true); // (T, V)
            var loss = nn.functional.cross_entropy(logits, torch.tensor(targets, ScalarType.Int64, model.Placement.Device), reduction: nn.Reduction.Sum); // ()
            total += loss.item<float>();
            predicted += windowLength;
        }
        if (predicted == 0)
        {
            throw new ArgumentException($"{tokens.Count} tokens hold no window of {windowLength} + 1.", nameof(tokens));
        }
        return new PerplexityResult(total / predicted, predicted);
    }
}
