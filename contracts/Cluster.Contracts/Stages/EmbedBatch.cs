namespace Cluster.Contracts.Stages;

/// <summary>How a sequence's hidden states become one embedding vector.</summary>
[GenerateSerializer]
public enum EmbeddingPool
{
    Mean = 0,
    LastToken = 1,
}

/// <summary>
/// Embedding inputs for one stage: every input's token ids (stage 0 embeds them; later stages count by them) and,
/// after the first stage, the hidden states the previous stage produced for them, packed in input order. The stage
/// that produces the hidden states after <see cref="Layer"/> (transformers' <c>hidden_states</c> numbering: the
/// model's layer count is the final norm's output) pools them; the stages before it hand their hidden states on. No
/// session and no cache outlives the call.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record EmbedBatch(
    [property: Id(0)] int[][] Inputs,
    [property: Id(1)] HiddenStates? Hidden,
    [property: Id(2)] int Layer,
    [property: Id(3)] EmbeddingPool Pool,
    [property: Id(4)] bool Normalize);

/// <summary>
/// What a stage returns for an <see cref="EmbedBatch"/>: the hidden states for the next stage, or, from the stage that
/// pools, one vector per input (float32, in input order).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record EmbedResult(
    [property: Id(0)] HiddenStates? Hidden,
    [property: Id(1)] float[][]? Vectors,
    [property: Id(2)] double ComputeSeconds,
    [property: Id(3)] string Silo);
