using System.Buffers;

namespace Cluster.Engine.Sampling;

/// <summary>
/// Turns one sequence's next-token logits into a token. Create one per sequence and call <see cref="Sample"/> once
/// per generated token: the sampler owns that sequence's random stream, so a seeded request gives the same tokens
/// whether it runs alone or batched with others, on any machine. Not thread-safe (a sequence samples one step at a time).
/// </summary>
/// <remarks>
/// <para>Steps, in vLLM's order (its v1 sampler: penalties, temperature, min-p, then top-k and top-p):</para>
/// <list type="number">
/// <item>Sanitize: NaN logits become -inf (never chosen), +inf becomes <see cref="float.MaxValue"/>.
/// If every logit is -inf, <see cref="Sample"/> throws <see cref="InvalidOperationException"/>.</item>
/// <item>Logit bias (<see cref="SamplingParameters.LogitBias"/>): each listed token's bias is added to its logit.</item>
/// <item>Repetition penalty (<see cref="SamplingParameters.RepetitionPenalty"/>): every distinct token in
/// <c>previousTokens</c> gets logit / penalty when the (biased) logit is positive, logit · penalty otherwise.</item>
/// <item>Frequency and presence penalties (<see cref="SamplingParameters.FrequencyPenalty"/>,
/// <see cref="SamplingParameters.PresencePenalty"/>): every distinct token among the last <see cref="Steps"/> of
/// <c>previousTokens</c> (what this sampler generated) gets logit − frequency · count − presence.</item>
/// <item>The output constraint, when the sampler has one (<see cref="IOutputConstraint"/>: JSON mode, a JSON schema):
/// every token that cannot continue the output as the constraint's text gets -inf, and the end tokens keep their logit
/// only where that text is complete.</item>
/// <item>Log-probabilities: log_softmax of these penalized (and constrained) logits, in double. The chosen token's logprob and the
/// <see cref="SamplingParameters.TopLogprobs"/> alternatives come from here, before temperature, top-k and top-p
/// (vLLM's raw logprobs).</item>
/// <item>Greedy when <see cref="SamplingParameters.Temperature"/> is below <see cref="GreedyTemperatureThreshold"/>:
/// the highest logit, ties to the lowest id; no random number is consumed.</item>
/// <item>Temperature: probabilities ∝ exp((logit - max) / T).</item>
/// <item>Min-p (<see cref="SamplingParameters.MinP"/>): drop every token whose probability is below min_p times the
/// most likely token's, i.e. whose weight exp((logit - max) / T) is below min_p; the most likely token (weight 1)
/// always stays. Computed over the whole vocabulary after temperature, as vLLM does. Min-p and top-k both keep a
/// prefix of the ranking, so which of the two runs first does not change what survives; top-p, next, sees only the
/// tokens both kept.</item>
/// <item>Top-k: keep exactly the k best tokens, ranking by logit and breaking ties at the k-th value by lower id.</item>
/// <item>Top-p: rank the survivors by probability (ties by lower id), keep the shortest prefix whose probability,
/// renormalized over the survivors of min-p and top-k, sums to at least p (never fewer than one token). p = 1 keeps
/// every token.</item>
/// <item>Draw from the kept tokens in proportion to their probabilities, with exactly one 64-bit draw of the
/// sequence's <see cref="Xoshiro256StarStar"/> stream per step, so the stream position depends only on the step count.</item>
/// </list>
/// <para>Cost for vocabulary V: linear passes (copy, summary, one pass of exponentials for the log-normalizer, shared
/// with the sampling weights at temperature 1) plus, when sampling, O(V log k) at worst for top-k, or for top-p
/// without top-k a pass of exponentials and O(n + m log n) to rank a nucleus of m tokens among the n that can belong
/// to it; nothing is fully sorted. About 0.7 to 1.3 ms per step at V = 152k on one core for model-like logits; a very
/// flat distribution with top-p (nucleus of most of the vocabulary) costs a near-full heap sort, about 13 ms.
/// Scratch buffers come from <see cref="ArrayPool{T}.Shared"/>, so a step allocates only its result.</para>
/// </remarks>
public sealed class TokenSampler
{
    /// <summary>
    /// Temperatures below this are greedy. At 1e-5 a logit gap of 0.01 already gives odds of e^1000, so sampling would
    /// be greedy anyway except for exact ties, and dividing by such a T invites overflow.
    /// </summary>
    public const float GreedyTemperatureThreshold = 1e-5f;

    private readonly SamplingParameters _parameters;
    private readonly Xoshiro256StarStar _random;

    private readonly IOutputConstraint? _constraint;

    /// <summary>Validates <paramref name="parameters"/> (see <see cref="SamplingParameters.Validate"/>) and seeds the stream.</summary>
    /// <param name="constraint">What this request's output must be (its own instance), or null for free text.</param>
    public TokenSampler(SamplingParameters parameters, IOutputConstraint? constraint = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        parameters.Validate();
        _parameters = parameters;
        _constraint = constraint;
        _random = new Xoshiro256StarStar(parameters.Seed ?? Xoshiro256StarStar.NondeterministicSeed());
    }

    /// <summary>How many steps this sampler has sampled (or skipped): the draw index of its next step.</summary>
    public int Steps { get; private set; }

    /// <summary>
    /// Advances the random stream past <paramref name="steps"/> steps as if they had been sampled: one draw each when
    /// stochastic, none when greedy. A sampler rebuilt after its state was lost (a failover, an evicted session)
    /// skips the steps its request already took and then continues with the same tokens the old one would have drawn.
    /// </summary>
    public void SkipSteps(int steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        if (!IsGreedy)
        {
            for (int i = 0; i < steps; i++)
                _random.NextUInt64();
        }
        Steps += steps;
    }

    private bool IsGreedy => _parameters.Temperature < GreedyTemperatureThreshold;

    /// <summary>Chooses the next token.</summary>
    /// <param name="logits">The model's logits for this sequence's next position, one per vocabulary entry. Not modified.</param>
    /// <param name="previousTokens">
    /// Prompt and generated tokens so far, in order, ending with the <see cref="Steps"/> tokens this sampler drew (each
    /// appended before the next step, as every caller does): the repetition penalty reads all of them, the frequency
    /// and presence penalties those last <see cref="Steps"/> (fewer when the list is shorter).
    /// </param>
    public SampledToken Sample(ReadOnlySpan<float> logits, IReadOnlyList<int> previousTokens)
    {
        ArgumentNullException.ThrowIfNull(previousTokens);
        if (logits.IsEmpty)
            throw new ArgumentException("Logits are empty; expected one per vocabulary entry.", nameof(logits));

        float[] buffer = ArrayPool<float>.Shared.Rent(logits.Length);
        try
        {
            Span<float> penalized = buffer.AsSpan(0, logits.Length);
            LogitSummary summary = PenalizedLogits.Prepare(
                logits, previousTokens, Math.Min(Steps, previousTokens.Count), _parameters, penalized, _constraint);

            double? sumOfExp = null;
            int tokenId = IsGreedy ? summary.ArgMax : SampleStochastic(penalized, summary, out sumOfExp);
            Steps++;
            if (!_parameters.Logprobs)
                return new SampledToken(tokenId, float.NaN, []);
            double logNormalizer = sumOfExp is { } sum
                ? LogSoftmax.LogNormalizerFromSum(summary.Max, sum)
                : LogSoftmax.LogNormalizer(penalized, summary.Max);

            return new SampledToken(
                tokenId,
                (float)(penalized[tokenId] - logNormalizer),
                LogSoftmax.TopAlternatives(penalized, logNormalizer, _parameters.TopLogprobs));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <param name="penalized">The prepared logits.</param>
    /// <param name="summary">Their summary.</param>
    /// <param name="sumOfExp">
    /// Σ exp(logit - max) over the whole vocabulary when this step happened to compute it (temperature exactly 1, no
    /// top-k): the log-normalizer then needs no second pass of exponentials. Null otherwise.
    /// </param>
    private int SampleStochastic(ReadOnlySpan<float> penalized, LogitSummary summary, out double? sumOfExp)
    {
        // Drawn first and unconditionally: one draw per step even when the filters leave a single token.
        double uniform = _random.NextDouble();
        int topK = _parameters.TopK;
        if (topK > 0 && topK < summary.FiniteCount)
        {
            sumOfExp = null;
            return SampleFromTopK(penalized, summary.Max, topK, uniform);
        }
        int tokenId = SampleFromAll(penalized, summary, uniform, out double unfilteredTotal);
        sumOfExp = _parameters.Temperature == 1f ? unfilteredTotal : null;
        return tokenId;
    }

    private int SampleFromTopK(ReadOnlySpan<float> penalized, float max, int topK, double uniform)
    {
        int[] ids = ArrayPool<int>.Shared.Rent(topK);
        double[] weights = ArrayPool<double>.Shared.Rent(topK);
        try
        {
            Span<int> keptIds = ids.AsSpan(0, topK);
            int count = TopKSelection.SelectHighest(penalized, keptIds); // == topK: fewer finite tokens skip this path
            Span<double> keptWeights = weights.AsSpan(0, count);
            double total = 0;
            for (int i = 0; i < count; i++)
                total += keptWeights[i] = Weight(penalized[keptIds[i]], max);

            if (_parameters.MinP > 0f)
            {
                // The kept weights are in rank order, so min-p's survivors are a prefix of them.
                count = MinPPrefixLength(keptWeights[..count]);
                total = 0;
                for (int i = 0; i < count; i++)
                    total += keptWeights[i];
            }

            if (_parameters.TopP < 1f)
                count = TopPSelection.PrefixLength(keptWeights, total, _parameters.TopP);

            return CategoricalDraw.Pick(keptIds[..count], keptWeights[..count], uniform);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(ids);
            ArrayPool<double>.Shared.Return(weights);
        }
    }

    /// <param name="unfilteredTotal">Σ weights over the whole vocabulary, before min-p: what the log-normalizer needs.</param>
    private int SampleFromAll(ReadOnlySpan<float> penalized, LogitSummary summary, double uniform, out double unfilteredTotal)
    {
        int vocab = penalized.Length;
        double[] weightsBuffer = ArrayPool<double>.Shared.Rent(vocab);
        try
        {
            Span<double> weightsById = weightsBuffer.AsSpan(0, vocab);
            unfilteredTotal = 0;
            for (int id = 0; id < vocab; id++)
                unfilteredTotal += weightsById[id] = Weight(penalized[id], summary.Max);

            double total = _parameters.MinP > 0f ? DropBelowMinP(weightsById) : unfilteredTotal;

            return _parameters.TopP < 1f
                ? SampleFromNucleus(penalized, summary.FiniteCount, weightsById, total, uniform)
                : CategoricalDraw.PickById(weightsById, total, uniform);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(weightsBuffer);
        }
    }

    private int SampleFromNucleus(
        ReadOnlySpan<float> penalized, int finiteCount, ReadOnlySpan<double> weightsById, double total, double uniform)
    {
        int[] candidatesBuffer = ArrayPool<int>.Shared.Rent(finiteCount);
        int[] keptIdsBuffer = ArrayPool<int>.Shared.Rent(finiteCount);
        double[] keptWeightsBuffer = ArrayPool<double>.Shared.Rent(finiteCount);
        try
        {
            // Only tokens at or above this weight can be in the nucleus: the ones below it, at most finiteCount of
            // them, weigh less than finiteCount · threshold = (1 - p) · total together, so the tokens at or above it
            // already exceed p · total, and being the top of the ranking they contain the nucleus. On real logits
            // this leaves a few hundred candidates out of 150k to order.
            double threshold = (1.0 - _parameters.TopP) * total / finiteCount;
            Span<int> candidates = candidatesBuffer.AsSpan(0, finiteCount);
            int n = 0;
            for (int id = 0; id < weightsById.Length; id++)
            {
                if (weightsById[id] >= threshold && !float.IsNegativeInfinity(penalized[id]))
                    candidates[n++] = id;
            }
            int kept = TopPSelection.SelectFromUnsorted(
                penalized, candidates[..n], weightsById, total, _parameters.TopP, keptIdsBuffer, keptWeightsBuffer);
            return CategoricalDraw.Pick(keptIdsBuffer.AsSpan(0, kept), keptWeightsBuffer.AsSpan(0, kept), uniform);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(candidatesBuffer);
            ArrayPool<int>.Shared.Return(keptIdsBuffer);
            ArrayPool<double>.Shared.Return(keptWeightsBuffer);
        }
    }

    private int MinPPrefixLength(ReadOnlySpan<double> rankedWeights) => MinPPrefixLength(rankedWeights, _parameters.MinP);

    // A token's weight is its probability divided by the most likely token's, so min-p compares it with min_p itself.
    internal static int MinPPrefixLength(ReadOnlySpan<double> rankedWeights, float minP)
    {
        int kept = 1; // the most likely token, weight 1
        while (kept < rankedWeights.Length && rankedWeights[kept] >= minP)
            kept++;
        return kept;
    }

    // Zeroes the weights min-p drops (a zero weight is never drawn, nor a top-p candidate) and returns the sum of the rest.
    private double DropBelowMinP(Span<double> weightsById)
    {
        double minP = _parameters.MinP;
        double kept = 0;
        for (int id = 0; id < weightsById.Length; id++)
        {
            if (weightsById[id] < minP)
                weightsById[id] = 0;
            else
                kept += weightsById[id];
        }
        return kept;
    }

    // Unnormalized probability at this temperature; relative to the max so it lies in [0, 1] and never overflows.
    private double Weight(float logit, float max) => Weight(logit, max, _parameters.Temperature);

    internal static double Weight(float logit, float max, float temperature) => Math.Exp(((double)logit - max) / temperature);
}
