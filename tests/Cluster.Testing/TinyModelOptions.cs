namespace Cluster.Testing;

/// <summary>Which tokenizer files a tiny checkpoint carries.</summary>
public enum TinyTokenizer
{
    None,

    /// <summary>The first ids of the real GPT-2 byte-level BPE (tokenizer.json, vocab.json, merges.txt).</summary>
    Gpt2Bpe,

    /// <summary>A small SentencePiece BPE model with byte fallback (tokenizer.model), Llama 2 style.</summary>
    SentencePiece,
}

/// <summary>
/// The shape of a tiny test model. Defaults are small enough for fast tests and large enough to catch layout
/// bugs: several layers, grouped-query heads (4 query heads over 2 KV heads), non-square projections.
/// </summary>
public sealed record TinyModelOptions
{
    public string ModelType { get; init; } = "llama";
    public int VocabularySize { get; init; } = 1024;
    public int HiddenSize { get; init; } = 64;
    public int LayerCount { get; init; } = 4;
    public int HeadCount { get; init; } = 4;
    public int KeyValueHeadCount { get; init; } = 2;

    /// <summary>Llama only; null = hidden / heads. Set it to test a head_dim that is not hidden / heads.</summary>
    public int? HeadDimension { get; init; }

    public int IntermediateSize { get; init; } = 96;
    public int MaxPositionEmbeddings { get; init; } = 256;
    public double RopeTheta { get; init; } = 10000.0;

    /// <summary>Llama 3 rope_scaling: (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings).</summary>
    public (double Factor, double Low, double High, int OriginalMax)? Llama3RopeScaling { get; init; }

    public bool TieWordEmbeddings { get; init; }

    /// <summary>q/k/v biases (always on for model_type qwen2).</summary>
    public bool AttentionBias { get; init; }

    public DiskDType DType { get; init; } = DiskDType.F32;

    /// <summary>More than one writes model-0000i-of-0000n.safetensors plus model.safetensors.index.json.</summary>
    public int ShardCount { get; init; } = 1;

    public TinyTokenizer Tokenizer { get; init; } = TinyTokenizer.None;

    public ulong Seed { get; init; } = 1234;

    public static TinyModelOptions Llama => new();

    public static TinyModelOptions Gpt2 => new() { ModelType = "gpt2", KeyValueHeadCount = 4, IntermediateSize = 256 };

    /// <summary>The tiny model of a test's architecture parameter: "gpt2" (<see cref="Gpt2"/>) or "llama" (<see cref="Llama"/>).</summary>
    public static TinyModelOptions For(string architecture) => architecture switch
    {
        "gpt2" => Gpt2,
        "llama" => Llama,
        _ => throw new ArgumentException($"No tiny model for architecture '{architecture}'; expected gpt2 or llama.", nameof(architecture)),
    };
}
