using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Training;

/// <summary>
/// Batches of training windows (B, T+1) cut at seeded random offsets of a token stream, and the fixed,
/// non-overlapping windows an evaluation reads.
/// </summary>
public sealed class TrainingWindows(IReadOnlyList<int> tokens, int sequenceLength, long seed)
{
    // System.Random with a seed is a fixed, documented-stable generator, so runs repeat across machines.
    private readonly Random _random = tokens.Count > sequenceLength
        ? new Random(unchecked((int)seed))
        : throw new ArgumentException($"The token stream ({tokens.Count} tokens) must be longer than one window ({sequenceLength} + 1 tokens).", nameof(tokens));

    /// <returns>(B, T+1) int64.</returns>
    public Tensor NextBatch(int batchSize)
    {
        var data = new long[batchSize * (sequenceLength + 1)];
        for (var b = 0; b < batchSize; b++)
        {
            var start = _random.Next(tokens.Count - sequenceLength);
            for (var j = 0; j <= sequenceLength; j++)
            {
                data[b * (sequenceLength + 1) + j] = tokens[start + j];
            }
        }
        return torch.tensor(data, [batchSize, sequenceLength + 1], ScalarType.Int64);
    }

    /// <summary>The first <paramref name="count"/> non-overlapping windows (fewer if the stream is short): (N, T+1) int64.</summary>
    public static Tensor Consecutive(IReadOnlyList<int> tokens, int sequenceLength, int count)
    {
        var n = Math.Min(count, (tokens.Count - 1) / sequenceLength);
        if (n < 1)
        {
            throw new ArgumentException($"{tokens.Count} tokens hold no window of {sequenceLength} + 1.", nameof(tokens));
        }
        var data = new long[n * (sequenceLength + 1)];
        for (var w = 0; w < n; w++)
        {
            for (var j = 0; j <= sequenceLength; j++)
            {
                data[w * (sequenceLength + 1) + j] = tokens[w * sequenceLength + j];
            }
        }
        return torch.tensor(data, [n, sequenceLength + 1], ScalarType.Int64);
    }
}
