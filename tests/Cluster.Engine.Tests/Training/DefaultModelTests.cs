using Cluster.Engine.Configuration;
using Cluster.Engine.Generation;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using Cluster.Engine.Training;
using Cluster.Tokenizers;

namespace Cluster.Engine.Tests.Training;

/// <summary>The model shipped in models/default, through the same loader, tokenizer and forward pass that serve it.</summary>
public sealed class DefaultModelTests
{
    // docs/DEFAULT_MODEL.md records the measured value on this slice; the bound leaves room for float differences only.
    private const int SliceWindows = 8;
    private const double PerplexityBound = 25.0; // measured 22.36 (mean loss 3.1074 nats) at training time

    [Fact]
    public void Shipped_checkpoint_loads_through_the_normal_loader_with_its_tokenizer()
    {
        var tokenizer = CheckpointTokenizer.Load(RepositoryFiles.DefaultModel);
        using var model = ModelShard.Load(RepositoryFiles.DefaultModel, options: new EngineOptions { Device = "cpu" });

        Assert.Equal(ModelArchitecture.Llama, model.Config.Architecture);
        Assert.Equal(tokenizer.VocabularySize, model.Config.VocabularySize);
        Assert.Equal(model.Config.EosTokenIds, tokenizer.EosTokenIds);
        Assert.True(model.HasEmbedding && model.HasHead);
        Assert.True(new FileInfo(Path.Combine(RepositoryFiles.DefaultModel, "model.safetensors")).Length < 30_000_000);
    }

    [Fact]
    public void Held_out_perplexity_on_a_fixed_slice_is_below_the_recorded_bound_and_far_below_uniform()
    {
        var tokenizer = CheckpointTokenizer.Load(RepositoryFiles.DefaultModel);
        using var model = ModelShard.Load(RepositoryFiles.DefaultModel, options: new EngineOptions { Device = "cpu", DType = "float32" });
        var tokens = tokenizer.Encode(File.ReadAllText(RepositoryFiles.HeldOutText));

        var result = HeldOutPerplexity.Compute(model, tokens, model.Config.ContextLength, SliceWindows);

        Assert.Equal(SliceWindows * model.Config.ContextLength, result.PredictedTokens);
        Assert.True(result.Perplexity < PerplexityBound, $"Held-out perplexity {result.Perplexity:F2} exceeds the recorded bound {PerplexityBound}.");
        Assert.True(result.Perplexity < model.Config.VocabularySize / 50.0, $"Held-out perplexity {result.Perplexity:F2} is not far below uniform ({model.Config.VocabularySize}).");
    }

    [Fact]
    public void Greedy_continuation_is_made_of_words()
    {
        var tokenizer = CheckpointTokenizer.Load(RepositoryFiles.DefaultModel);
        using var model = ModelShard.Load(RepositoryFiles.DefaultModel, options: new EngineOptions { Device = "cpu" });
        var prompt = tokenizer.Encode("And God said unto");

        var ids = new SequenceGenerator(model)
            .Generate(prompt, new SamplingParameters { Temperature = 0 }, new StopConditions { MaxNewTokens = 24 }, tokenizer.EosTokenIds)
            .Select(t => t.TokenId).ToArray();
        var text = tokenizer.Decode(ids);

        // Language, not noise: mostly letters and spaces, and most words are real English words of the corpus.
        Assert.True(text.Count(c => char.IsLetter(c) || c == ' ') > 0.8 * text.Length, $"Continuation \"{text}\" is not mostly letters.");
        var corpusWords = Words(File.ReadAllText(RepositoryFiles.HeldOutText)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var words = Words(text).ToArray();
        Assert.True(words.Length >= 8, $"Continuation \"{text}\" has fewer than 8 words.");
        Assert.True(words.Count(corpusWords.Contains) >= 0.8 * words.Length, $"Continuation \"{text}\" is mostly not words of the corpus.");
    }

    private static IEnumerable<string> Words(string text) =>
        text.Split((char[])[' ', '\n', ',', '.', ':', ';', '?', '!', '(', ')'], StringSplitOptions.RemoveEmptyEntries).Select(w => w.Trim('\''));
}
