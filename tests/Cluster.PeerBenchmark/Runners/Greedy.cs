namespace Cluster.PeerBenchmark.Runners;

public static class Greedy
{
    /// <summary>Index of the largest logit; the first one on ties, as torch.argmax and our greedy sampler pick.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        var bestValue = logits[0];
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > bestValue)
            {
                bestValue = logits[i];
                best = i;
            }
        }
        return best;
    }
}
