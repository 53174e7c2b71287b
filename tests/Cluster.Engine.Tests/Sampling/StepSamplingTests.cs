using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using Cluster.Kernels;
using TorchSharp;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// <see cref="StepSampling"/> splits a step's rows over the kernel team's threads: every row must get exactly what
/// sampling the rows one after another gives (token, logprob, alternatives, and the random stream's position), for
/// greedy and seeded sampling, with any number of threads; a failing row fails the call with its own exception.
/// </summary>
public sealed class StepSamplingTests
{
    private const int Vocabulary = 1000;

    private static SamplingParameters ParametersFor(int row) => (row % 4) switch
    {
        0 => new SamplingParameters { Temperature = 0, TopLogprobs = 3 },
        1 => new SamplingParameters { Temperature = 0.8f, TopK = 40, Seed = (ulong)(1000 + row) },
        2 => new SamplingParameters { Temperature = 1.2f, TopP = 0.9f, Seed = (ulong)(2000 + row), TopLogprobs = 2 },
        _ => new SamplingParameters { Temperature = 1f, MinP = 0.05f, RepetitionPenalty = 1.3f, Seed = (ulong)(3000 + row) },
    };

    private static (HostLogits Logits, float[,] Values) RandomLogits(int rows, int seed)
    {
        var random = new Random(seed);
        var values = new float[rows, Vocabulary];
        for (var r = 0; r < rows; r++)
        {
            for (var v = 0; v < Vocabulary; v++)
            {
                values[r, v] = (float)(random.NextDouble() * 8 - 4);
            }
        }
        var logits = new HostLogits();
        using var tensor = torch.tensor(values); // (rows, V) float32
        logits.Load(tensor);
        return (logits, values);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(5, 2)]
    [InlineData(7, 3)]
    [InlineData(32, 2)]
    public void Every_row_gets_what_sampling_the_rows_in_turn_gives(int rows, int threads)
    {
        var (logits, _) = RandomLogits(rows, seed: rows * 10 + threads);
        var histories = Enumerable.Range(0, rows).Select(r => (IReadOnlyList<int>)Enumerable.Range(r, 5).ToList()).ToArray();
        var inTurn = Enumerable.Range(0, rows).Select(r => new TokenSampler(ParametersFor(r))).ToArray();
        var split = Enumerable.Range(0, rows).Select(r => new TokenSampler(ParametersFor(r))).ToArray();
        using var team = new KernelTeam(threads);
        for (var step = 0; step < 3; step++)
        {
            var expected = Enumerable.Range(0, rows).Select(r => inTurn[r].Sample(logits.Row(r), histories[r])).ToArray();
            var actual = StepSampling.Sample(logits, split, histories, team);
            for (var r = 0; r < rows; r++)
            {
                var what = $"step {step}, row {r} of {rows}, {threads} threads";
                Assert.True(expected[r].TokenId == actual[r].TokenId, $"{what}: token {actual[r].TokenId}, in turn {expected[r].TokenId}");
                Assert.True(expected[r].Logprob == actual[r].Logprob, $"{what}: logprob {actual[r].Logprob}, in turn {expected[r].Logprob}");
                Assert.True(expected[r].TopAlternatives.SequenceEqual(actual[r].TopAlternatives),
                    $"{what}: alternatives [{string.Join(", ", actual[r].TopAlternatives)}], in turn [{string.Join(", ", expected[r].TopAlternatives)}]");
                Assert.True(inTurn[r].Steps == split[r].Steps, $"{what}: sampler at step {split[r].Steps}, in turn {inTurn[r].Steps}");
            }
        }
    }

    [Fact]
    public void A_row_that_cannot_be_sampled_fails_the_call_with_its_own_exception_after_every_row_ran()
    {
        const int Rows = 4;
        var values = new float[Rows, Vocabulary];
        for (var v = 0; v < Vocabulary; v++)
        {
            values[0, v] = v % 7;
            values[1, v] = float.NegativeInfinity; // no token can be chosen
            values[2, v] = -(v % 5);
            values[3, v] = v % 3;
        }
        var logits = new HostLogits();
        using (var tensor = torch.tensor(values))
        {
            logits.Load(tensor);
        }
        var samplers = Enumerable.Range(0, Rows).Select(_ => new TokenSampler(new SamplingParameters { Temperature = 0 })).ToArray();
        var histories = Enumerable.Range(0, Rows).Select(_ => (IReadOnlyList<int>)[]).ToArray();
        using var team = new KernelTeam(2);

        var failure = Assert.Throws<InvalidOperationException>(() => StepSampling.Sample(logits, samplers, histories, team));

        Assert.True(samplers.Select(s => s.Steps).SequenceEqual([1, 0, 1, 1]),
            $"every other row still sampled once; steps were [{string.Join(", ", samplers.Select(s => s.Steps))}]; failure: {failure.Message}");
    }

    [Fact]
    public void Counts_that_do_not_match_the_rows_are_refused_naming_them()
    {
        var (logits, _) = RandomLogits(2, seed: 1);
        var samplers = new[] { new TokenSampler(new SamplingParameters()), new TokenSampler(new SamplingParameters()) };

        var error = Assert.Throws<ArgumentException>(() => StepSampling.Sample(logits, samplers, [[]]));

        Assert.Contains("2 samplers, 1 histories, 2 rows", error.Message);
    }
}
