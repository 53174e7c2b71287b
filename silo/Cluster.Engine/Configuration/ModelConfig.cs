namespace Cluster.Engine.Configuration;

/// <summary>
/// The shape of a model, read from a Hugging Face <c>config.json</c> by <see cref="ModelConfigReader"/>.
/// One record for both families; fields that a family does not use keep their defaults.
/// </summary>
public sealed record ModelConfig
{
    public required ModelArchitecture Architecture { get; init; }

    /// <summary>The <c>model_type</c> as written in config.json (llama, qwen2, mistral, gpt2, ...).</summary>
    public required string ModelType { get; init; }

    public required int VocabularySize { get; init; }
    public required int HiddenSize { get; init; }
    public required int LayerCount { get; init; }
    public required int HeadCount { get; init; }

    /// <summary>Key/value heads; fewer than <see cref="HeadCount"/> means grouped-query attention.</summary>
    public required int KeyValueHeadCount { get; init; }

    public required int HeadDimension { get; init; }
    public required int IntermediateSize { get; init; }

    /// <summary>The longest sequence the position encoding supports (context length).</summary>
    public required int MaxPositionEmbeddings { get; init; }

    /// <summary>RMSNorm epsilon (Llama) or LayerNorm epsilon (GPT-2).</summary>
    public required double NormEpsilon { get; init; }

    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>Whether the LM head reuses the token embedding matrix.</summary>
    public required bool TieWordEmbeddings { get; init; }

    /// <summary>Biases on the q/k/v projections (Qwen2 always; Llama when <c>attention_bias</c>).</summary>
    public bool QkvBias { get; init; }

    /// <summary>A bias on the attention output projection (Llama's <c>attention_bias</c> covers o_proj too; Qwen2 has none).</summary>
    public bool OutputProjectionBias { get; init; }

    /// <summary>
    /// Mistral / Qwen2 sliding-window attention span, when the config enables one. The engine attends fully, which
    /// equals windowed attention for sequences up to the window, so <see cref="ContextLength"/> stops there.
    /// </summary>
    public int? SlidingWindow { get; init; }

    /// <summary>The longest sequence this engine serves for the model: the position limit, capped by a sliding window.</summary>
    public int ContextLength => SlidingWindow is { } w ? Math.Min(w, MaxPositionEmbeddings) : MaxPositionEmbeddings;

    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>The <c>torch_dtype</c> the checkpoint was saved in, if stated.</summary>
    public string? TorchDtype { get; init; }

    public int QueryGroupSize => HeadCount / KeyValueHeadCount;
}
