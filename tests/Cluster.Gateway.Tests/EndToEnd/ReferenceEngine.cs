using Cluster.Engine.Generation;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using Cluster.Engine.Sampling.Json;
using Cluster.JsonSchemas;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>The single-process engine on the same checkpoint: what the cluster's output must equal token for token.</summary>
internal sealed class ReferenceEngine : IDisposable
{
    private readonly ModelShard _model;

    public ReferenceEngine(string checkpointPath)
    {
        _model = ModelShard.Load(checkpointPath);
        Tokenizer = CheckpointTokenizer.Load(checkpointPath);
    }

    public CheckpointTokenizer Tokenizer { get; }

    private IReadOnlyList<int> Eos => Tokenizer.EosTokenIds.Count > 0 ? Tokenizer.EosTokenIds : _model.Config.EosTokenIds;

    public List<int> Generate(string prompt, int maxNewTokens, float temperature = 0f, ulong? seed = null, int topK = 0, float topP = 1f, bool ignoreEos = false, float minP = 0f) =>
        Generate(Tokenizer.Encode(prompt), maxNewTokens, temperature, seed, topK, topP, ignoreEos, minP);

    public List<int> Generate(IReadOnlyList<int> promptIds, int maxNewTokens, float temperature = 0f, ulong? seed = null, int topK = 0, float topP = 1f, bool ignoreEos = false, float minP = 0f) =>
        Generate(promptIds, maxNewTokens, new SamplingParameters { Temperature = temperature, TopK = topK, TopP = topP, MinP = minP, Seed = seed }, ignoreEos);

    /// <summary>With the engine's sampling parameters as given (built by the test, not through the silo's mapping).</summary>
    public List<int> Generate(IReadOnlyList<int> promptIds, int maxNewTokens, SamplingParameters parameters, bool ignoreEos = false)
    {
        var stop = new StopConditions { MaxNewTokens = maxNewTokens, IgnoreEos = ignoreEos };
        return new SequenceGenerator(_model).Generate(promptIds, parameters, stop, Eos).Select(t => t.TokenId).ToList();
    }

    /// <summary>
    /// In JSON mode (or, with <paramref name="schema"/>, held to that JSON Schema), its constraint built here from the
    /// checkpoint's tokenizer (not the silo's <c>JsonTables</c> and <c>TextAutomatonMasks</c>).
    /// </summary>
    public List<int> GenerateJson(IReadOnlyList<int> promptIds, int maxNewTokens, SamplingParameters parameters, string? schema = null)
    {
        var table = new JsonTokenTable(_model.Config.VocabularySize, Tokenizer.ContinuationBytes);
        var stop = new StopConditions { MaxNewTokens = maxNewTokens };
        IOutputConstraint constraint = schema is null
            ? new JsonObjectConstraint(table, Eos)
            : new TextAutomatonConstraint(new(table, new TextAutomatonGrammar(TextAutomaton.FromJsonSchema(schema))), Eos);
        return new SequenceGenerator(_model).Generate(promptIds, parameters, stop, Eos, constraint: constraint).Select(t => t.TokenId).ToList();
    }

    /// <summary>
    /// The prompt's log-probabilities in one forward pass: for each position after the first, log-softmax of the
    /// model's logits at the position before it, (positions - 1, vocabulary).
    /// </summary>
    public float[][] PromptLogprobs(IReadOnlyList<int> promptIds)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var cache = _model.CreateCache(promptIds.Count);
        SequenceChunk[] chunks = [SequenceChunk.ForTokens(cache, 0, [.. promptIds])];
        var hidden = _model.RunLayers(_model.Embed(chunks), chunks);
        var logprobs = _model.Logits(hidden, chunks, allPositions: true).log_softmax(1).cpu(); // (T, V)
        var vocabulary = (int)logprobs.shape[1];
        var values = logprobs.data<float>().ToArray();
        return [.. Enumerable.Range(0, promptIds.Count - 1).Select(row => values.AsSpan(row * vocabulary, vocabulary).ToArray())];
    }

    public IReadOnlyList<int> EosTokenIds => Eos;

    public void Dispose() => _model.Dispose();
}
