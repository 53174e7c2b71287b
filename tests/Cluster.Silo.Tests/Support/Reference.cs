using Cluster.Contracts.Sampling;
using Cluster.Contracts.Stages;
using Cluster.Engine.Generation;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;

namespace Cluster.Silo.Tests.Support;

/// <summary>Sampling settings for the tests and the single-process reference they are compared with.</summary>
public static class Reference
{
    public static SamplingRequest Greedy(string requestId) => new(requestId, new SamplingSettings(0f, 0, 1f, 1f, 0, 2, Logprobs: true), 0);

    /// <summary>Every filter active, so a wrong draw index or a lost history shows up as a different token.</summary>
    public static SamplingRequest Seeded(string requestId, ulong seed) => new(requestId, new SamplingSettings(0.9f, 50, 0.95f, 1.2f, seed, 3, Logprobs: true), 0);

    /// <summary>
    /// What <see cref="SequenceGenerator"/> on the whole model generates with the same settings, mapped by the silo's
    /// own <see cref="Stages.RequestSampler.Parameters"/> so that a new sampling field needs no second mapping here.
    /// </summary>
    public static List<GeneratedToken> Generate(ModelShard wholeModel, int[] prompt, int count, SamplingRequest sampling) =>
        new SequenceGenerator(wholeModel)
            .Generate(prompt, Silo.Stages.RequestSampler.Parameters(sampling.Settings), new StopConditions { MaxNewTokens = count, IgnoreEos = true }, [])
            .ToList();

    /// <summary>Fails with both sequences when the cluster's tokens differ from the reference's.</summary>
    public static void AssertSameTokens(IReadOnlyList<GeneratedToken> expected, IReadOnlyList<SampledTokenResult> actual, string what)
    {
        var expectedIds = expected.Select(t => t.TokenId).ToArray();
        var actualIds = actual.Select(t => t.TokenId).ToArray();
        Assert.True(expectedIds.SequenceEqual(actualIds), $"{what}: expected [{string.Join(", ", expectedIds)}], got [{string.Join(", ", actualIds)}]");
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.True(Math.Abs(expected[i].Logprob - actual[i].Logprob) < 1e-4, $"{what}: token {i} logprob {actual[i].Logprob} vs reference {expected[i].Logprob}");
            var alternatives = expected[i].TopAlternatives.Select(a => a.TokenId).ToArray();
            Assert.True(alternatives.SequenceEqual(actual[i].TopTokenIds), $"{what}: token {i} alternatives [{string.Join(", ", actual[i].TopTokenIds)}] vs reference [{string.Join(", ", alternatives)}]");
        }
    }

    /// <summary>A deterministic prompt of <paramref name="length"/> ids in the tiny vocabulary.</summary>
    public static int[] Prompt(int length, int seed) =>
        Enumerable.Range(0, length).Select(i => (int)((i * 7919L + seed * 104729L + 13) % 1000) + 3).ToArray();
}
