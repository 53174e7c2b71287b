namespace Cluster.Contracts.Stages;

/// <summary>
/// One prompt to look inside, for one stage: its token ids (stage 0 embeds them) and, after the first stage, the
/// previous stage's hidden states and the residual states of every layer so far at the last <see cref="LensRows"/>
/// positions (<see cref="LayerStates"/>, one (rows, width) row-major array per layer, layer 0 the embeddings). Every stage appends its layers' states; the last stage
/// reads them all through the final norm and the LM head (a logit lens) and keeps each layer's <see cref="TopN"/>
/// most likely next tokens, and, given <see cref="Sampling"/>, explains what the sampler does with the last layer's
/// logits (<see cref="SamplerExplanation"/>). Like <see cref="EmbedBatch"/>, no cache outlives the call.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record InspectBatch(
    [property: Id(0)] int[] TokenIds,
    [property: Id(1)] HiddenStates? Hidden,
    [property: Id(2)] float[][] LayerStates,
    [property: Id(3)] int TopN,
    [property: Id(4)] Sampling.SamplingSettings? Sampling = null,
    [property: Id(5)] int AttentionRows = 0,
    [property: Id(6)] int LensRows = 1);

/// <summary>
/// What a stage returns for an <see cref="InspectBatch"/>: for the next stage, its hidden states and the layer
/// states so far; from the last stage, <see cref="Lens"/>, one entry per layer (0 to the layer count) in order; from
/// the first stage, <see cref="Embedding"/> and <see cref="Positions"/> (the gateway keeps it while the later stages run).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record InspectResult(
    [property: Id(0)] HiddenStates? Hidden,
    [property: Id(1)] float[][] LayerStates,
    [property: Id(2)] LensLayer[]? Lens,
    [property: Id(3)] double ComputeSeconds,
    [property: Id(4)] string Silo,
    [property: Id(5)] SamplerExplanation? Sampler = null,
    [property: Id(6)] TokenNeighbours? Embedding = null,
    [property: Id(7)] LayerAttention[]? Attention = null,
    [property: Id(8)] PositionCurve? Positions = null);

/// <summary>
/// From the first stage: how the model encodes positions and a similarity-by-relative-distance curve
/// (the engine's PositionProfile): rotary with its base and frequencies (radians per position), or learned.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PositionCurve(
    [property: Id(0)] bool Rotary,
    [property: Id(1)] double RopeTheta,
    [property: Id(2)] int HeadDimension,
    [property: Id(3)] float[] Frequencies,
    [property: Id(4)] int Positions,
    [property: Id(5)] int[] Distances,
    [property: Id(6)] float[] Similarities);

/// <summary>
/// One layer's attention weights, from the stage that owns the layer: for every query head, the last
/// <see cref="Rows"/> query positions' weights over all <see cref="Columns"/> positions, row-major (head, row, column).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record LayerAttention(
    [property: Id(0)] int Layer,
    [property: Id(1)] int Heads,
    [property: Id(2)] int Rows,
    [property: Id(3)] int Columns,
    [property: Id(4)] float[] Weights);

/// <summary>
/// From the first stage: for each distinct token of the prompt (<see cref="TokenIds"/>), its embedding's length and the
/// nearest rows of the token embedding table by cosine similarity, most similar first.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TokenNeighbours(
    [property: Id(0)] int[] TokenIds,
    [property: Id(1)] float[] Norms,
    [property: Id(2)] int[][] Nearest,
    [property: Id(3)] float[][] Similarities);

/// <summary>
/// The sampler's steps on the next-token logits: the most likely tokens after the repetition penalty (temperature 1)
/// and after the temperature; how many tokens survive min-p, top-k and top-p in turn (of <see cref="FiniteTokens"/>);
/// and the renormalised distribution the draw is made from (its first entries, most likely first).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SamplerExplanation(
    [property: Id(0)] int[] AfterPenaltyIds,
    [property: Id(1)] float[] AfterPenaltyProbabilities,
    [property: Id(2)] int[] AfterTemperatureIds,
    [property: Id(3)] float[] AfterTemperatureProbabilities,
    [property: Id(4)] bool Greedy,
    [property: Id(5)] int FiniteTokens,
    [property: Id(6)] int KeptAfterMinP,
    [property: Id(7)] int KeptAfterTopK,
    [property: Id(8)] int KeptAfterTopP,
    [property: Id(9)] int[] DrawnFromIds,
    [property: Id(10)] float[] DrawnFromProbabilities);

/// <summary>
/// One layer of a logit lens: the norm of the last token's residual state after the layer, and the most likely next
/// tokens if the model stopped there (final norm and LM head on that state), most likely first. When the batch asked
/// for more than one row, the same for each of those positions (<see cref="PositionNorms"/>, and (rows, N) row-major
/// <see cref="PositionTopIds"/> and <see cref="PositionTopLogprobs"/>), the last row being the entry itself.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record LensLayer(
    [property: Id(0)] int Layer,
    [property: Id(1)] float HiddenNorm,
    [property: Id(2)] int[] TopTokenIds,
    [property: Id(3)] float[] TopLogprobs,
    [property: Id(4)] float[]? PositionNorms = null,
    [property: Id(5)] int[]? PositionTopIds = null,
    [property: Id(6)] float[]? PositionTopLogprobs = null);
