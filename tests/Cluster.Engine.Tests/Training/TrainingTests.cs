using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Engine.Training;
using Cluster.Testing;
using Cluster.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Tests.Training;

/// <summary>The training code on a tiny model and a tiny slice of the held-out corpus: small enough for CI, real enough to learn.</summary>
public sealed class TrainingTests
{
    private static readonly ModelConfig Tiny = new()
    {
        Architecture = ModelArchitecture.Llama,
        ModelType = "llama",
        VocabularySize = 4096, // the default model's tokenizer
        HiddenSize = 32,
        LayerCount = 2,
        HeadCount = 4,
        KeyValueHeadCount = 2,
        HeadDimension = 8,
        IntermediateSize = 64,
        MaxPositionEmbeddings = 32,
        NormEpsilon = 1e-5,
        TieWordEmbeddings = true,
        EosTokenIds = [4095],
    };

    private static readonly TrainingOptions Short = new()
    {
        Steps = 30,
        BatchSize = 8,
        SequenceLength = 32,
        LearningRate = 1e-2,
        MinLearningRate = 1e-3,
        WarmupSteps = 5,
        Seed = 7,
        EvaluationInterval = 0,
        EvaluationWindows = 4,
    };

    private static readonly Lazy<IReadOnlyList<int>> Slice = new(() =>
    {
        var tokenizer = CheckpointTokenizer.Load(RepositoryFiles.DefaultModel);
        var text = File.ReadAllText(RepositoryFiles.HeldOutText);
        return tokenizer.Encode(text[..12_000]); // about 3k tokens
    });

    [Fact]
    public void A_few_steps_on_a_tiny_slice_lower_the_loss()
    {
        var tokens = Slice.Value;
        using var model = new TrainableLlama(Tiny, Short.Seed);

        var result = Trainer.Run(model, tokens.Skip(256).ToArray(), tokens.Take(256).ToArray(), Short);

        // From about ln(4096) ≈ 8.3 nats: frequent words alone are worth more than a nat and a half.
        var initial = result.Losses[0];
        var last = result.Losses.TakeLast(5).Average();
        Assert.True(initial > 7.5, $"Initial loss {initial:F3} is not near uniform.");
        Assert.True(last < initial - 1.5, $"Training loss went from {initial:F3} to {last:F3}.");
        Assert.True(result.FinalHeldOutLoss < result.InitialHeldOutLoss - 1.0, $"Held-out loss went from {result.InitialHeldOutLoss:F3} to {result.FinalHeldOutLoss:F3}.");
    }

    [Fact]
    public void Training_is_reproducible_from_the_seed()
    {
        var tokens = Slice.Value;
        var options = Short with { Steps = 5 };
        using var first = new TrainableLlama(Tiny, options.Seed);
        using var second = new TrainableLlama(Tiny, options.Seed);
        using var otherSeed = new TrainableLlama(Tiny, options.Seed + 1);

        var firstRun = Trainer.Run(first, tokens, tokens, options);
        var secondRun = Trainer.Run(second, tokens, tokens, options);

        Assert.Equal(firstRun.Losses, secondRun.Losses);
        for (var i = 0; i < first.Parameters.Count; i++)
        {
            Assert.True(first.Parameters[i].Value.eq(second.Parameters[i].Value).all().item<bool>(), $"{first.Parameters[i].Name} differs between two runs of one seed.");
        }
        Assert.False(first.Parameters[0].Value.eq(otherSeed.Parameters[0].Value).all().item<bool>(), "Another seed drew the same embeddings.");
    }

    [Fact]
    public void The_training_forward_equals_the_served_forward_of_the_saved_checkpoint()
    {
        using var directory = TempDirectory.Create("trained");
        using var model = new TrainableLlama(Tiny, seed: 3);
        var ids = Slice.Value.Take(Tiny.ContextLength).ToArray();
        using var scope = torch.NewDisposeScope();
        Tensor trained;
        using (torch.no_grad())
        {
            trained = model.Forward(torch.tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length], ScalarType.Int64))[0]; // (T, V)
        }

        model.Save(directory.Path, ScalarType.Float32);
        using var served = ModelShard.Load(directory.Path, options: new EngineOptions { Device = "cpu", DType = "float32" });
        using var cache = served.CreateCache(ids.Length);
        var logits = served.Forward([SequenceChunk.ForTokens(cache, 0, ids)], allPositions: true); // (T, V)

        TensorAssert.Close(trained, logits, 1e-4, "training forward vs served forward");
    }
}
