using Cluster.PeerBenchmark.Runners;

namespace Cluster.PeerBenchmark.Tests;

/// <summary>
/// The cluster's decode figure: each stream's own first-to-last-token time, averaged, so a later prefill of the other
/// streams is not charged to decoding; its "prefill" is the time until every stream had its first token.
/// </summary>
public sealed class ClusterDecodeFigureTests
{
    [Fact]
    public void Staggered_streams_are_timed_each_from_its_own_first_token()
    {
        // Stream 0 starts at 0.02 s and decodes alone; the other two start together at 0.40 s (a later prefill step).
        // 5 new tokens: 4 decode steps each.
        var streams = new ClusterRunner.StreamResult[]
        {
            new([1, 2, 3, 4, 5], FirstTokenSeconds: 0.02, LastTokenSeconds: 0.46),
            new([6, 7, 8, 9, 10], FirstTokenSeconds: 0.40, LastTokenSeconds: 0.80),
            new([11, 12, 13, 14, 15], FirstTokenSeconds: 0.40, LastTokenSeconds: 0.84),
        };
        var run = ClusterRunner.FromStreams(streams, newTokens: 5);

        // Spans 0.44, 0.40 and 0.44 s: mean 0.4267 s over 4 steps; the old window (0.02 to 0.84) would say 0.82 s.
        Assert.Equal(4, run.DecodeSteps);
        Assert.Equal((0.44 + 0.40 + 0.44) / 3, run.DecodeSeconds, precision: 12);
        Assert.Equal(1000 * (0.44 + 0.40 + 0.44) / 3 / 4, run.MillisecondsPerStep, precision: 9);
        Assert.Equal(0.40, run.PrefillSeconds, precision: 12);
        Assert.Equal(new[] { 6, 7, 8, 9, 10 }, run.Tokens[1]);
    }

    [Fact]
    public void Streams_in_lockstep_give_the_lockstep_window()
    {
        var streams = Enumerable.Range(0, 8).Select(i => new ClusterRunner.StreamResult([i, i, i], 0.1, 0.3)).ToArray();
        var run = ClusterRunner.FromStreams(streams, newTokens: 3);
        Assert.Equal(0.2, run.DecodeSeconds, precision: 12);
        Assert.Equal(8 * 2 / 0.2, run.DecodeTokensPerSecond, precision: 6);
    }
}
