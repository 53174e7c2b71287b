using System.Buffers;
using System.Runtime.CompilerServices;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Cluster.Engine.Sampling;

/// <summary>What one pass over the prepared logits learned, so later steps need not scan again.</summary>
/// <param name="Max">The largest logit (finite).</param>
/// <param name="ArgMax">The lowest token id holding <paramref name="Max"/>: the greedy choice.</param>
/// <param name="FiniteCount">How many tokens are not -inf, i.e. can be sampled at all.</param>
internal readonly record struct LogitSummary(float Max, int ArgMax, int FiniteCount);

/// <summary>
/// The first step of sampling: copies the model's logits into a scratch buffer, makes them well defined and applies
/// the logit bias and the penalties, in vLLM's order (bias, repetition, frequency, presence). Everything after
/// (logprobs, temperature, min-p, top-k, top-p, greedy's choice) reads this buffer.
/// </summary>
internal static class PenalizedLogits
{
    /// <summary>
    /// Fills <paramref name="destination"/> with the sanitized, biased and penalized logits and summarizes them.
    /// NaN becomes -inf (the token can never be chosen); +inf becomes <see cref="float.MaxValue"/> so that softmax
    /// stays defined (the token then takes all the probability, shared with any other such token); every step's result
    /// is sanitized again, so a bias or penalty cannot bring either back.
    /// </summary>
    /// <param name="previousTokens">The prompt and the tokens generated so far: the repetition penalty reads them all.</param>
    /// <param name="generated">
    /// How many of <paramref name="previousTokens"/>, at its end, this request generated: the presence and frequency
    /// penalties read only those (OpenAI's "the text so far" is the completion's, as vLLM reads it).
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A previous token id or a biased id is outside the vocabulary (checked where one is used).</exception>
    /// <exception cref="InvalidOperationException">Every logit is -inf or NaN: there is nothing to sample.</exception>
    /// <param name="constraint">The output constraint's mask (JSON mode, a JSON schema), applied last (after the penalties), or null.</param>
    public static LogitSummary Prepare(
        ReadOnlySpan<float> logits, IReadOnlyList<int> previousTokens, int generated, SamplingParameters parameters, Span<float> destination,
        IOutputConstraint? constraint = null)
    {
        SanitizeAll(logits, destination);

        var bias = parameters.LogitBias is { Count: > 0 } map ? map : null;
        if (bias is not null)
            ApplyLogitBias(logits, bias, destination);

        if (parameters.RepetitionPenalty != 1f)
            ApplyRepetitionPenalty(logits, bias, previousTokens, parameters.RepetitionPenalty, destination);

        if ((parameters.FrequencyPenalty != 0f || parameters.PresencePenalty != 0f) && generated > 0)
            ApplyOutputPenalties(previousTokens, generated, parameters.FrequencyPenalty, parameters.PresencePenalty, destination);

        constraint?.Apply(destination, previousTokens, generated);

        return Summarize(destination);
    }

    /// <summary>
    /// CTRL (Keskar et al., 2019) as implemented by Hugging Face's <c>RepetitionPenaltyLogitsProcessor</c> and vLLM:
    /// each distinct token seen in the prompt or the output has its logit divided by the penalty when positive and
    /// multiplied by it when not. The new value is computed from the original logit, so a token repeated many times
    /// is still penalized exactly once.
    /// </summary>
    public static float Penalize(float logit, float penalty) => logit > 0f ? logit / penalty : logit * penalty;

    private static void ApplyLogitBias(ReadOnlySpan<float> logits, IReadOnlyDictionary<int, float> bias, Span<float> destination)
    {
        foreach (var id in bias.Keys)
        {
            CheckInVocabulary(id, logits.Length, "logit_bias");
            destination[id] = Biased(logits, bias, id);
        }
    }

    /// <summary>A token's logit after sanitizing and its bias: what the penalties start from.</summary>
    private static float Biased(ReadOnlySpan<float> logits, IReadOnlyDictionary<int, float>? bias, int id) =>
        bias is not null && bias.TryGetValue(id, out var value) ? Sanitize(Sanitize(logits[id]) + value) : Sanitize(logits[id]);

    private static void ApplyRepetitionPenalty(
        ReadOnlySpan<float> logits, IReadOnlyDictionary<int, float>? bias, IReadOnlyList<int> previousTokens, float penalty, Span<float> destination)
    {
        for (int i = 0; i < previousTokens.Count; i++)
        {
            int id = previousTokens[i];
            CheckPrevious(id, i, logits.Length);
            // Sanitize again: a penalty below 1 can push float.MaxValue to +inf.
            destination[id] = Sanitize(Penalize(Biased(logits, bias, id), penalty));
        }
    }

    /// <summary>
    /// OpenAI's definition, as vLLM computes it: logit − frequency·count − presence for every token among the last
    /// <paramref name="generated"/> of <paramref name="previousTokens"/>, count being how often it occurs there. Each
    /// distinct token is adjusted once, after the repetition penalty.
    /// </summary>
    private static void ApplyOutputPenalties(IReadOnlyList<int> previousTokens, int generated, float frequency, float presence, Span<float> destination)
    {
        int first = previousTokens.Count - generated;
        int[] rented = ArrayPool<int>.Shared.Rent(generated);
        try
        {
            Span<int> output = rented.AsSpan(0, generated);
            for (int i = 0; i < generated; i++)
            {
                output[i] = previousTokens[first + i];
                CheckPrevious(output[i], first + i, destination.Length);
            }
            output.Sort();
            for (int run = 0; run < generated;)
            {
                int id = output[run];
                int end = run + 1;
                while (end < generated && output[end] == id)
                    end++;
                destination[id] = Sanitize(destination[id] - frequency * (end - run) - presence);
                run = end;
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }

    private static void CheckPrevious(int id, int position, int vocabulary)
    {
        if ((uint)id >= (uint)vocabulary)
        {
            throw new ArgumentOutOfRangeException(
                "previousTokens", id, $"Previous token at position {position} has id {id}, outside the vocabulary of {vocabulary} logits.");
        }
    }

    private static void CheckInVocabulary(int id, int vocabulary, string what)
    {
        if ((uint)id >= (uint)vocabulary)
            throw new ArgumentOutOfRangeException(what, id, $"{what} names token id {id}, outside the vocabulary of {vocabulary} logits.");
    }

    private static float Sanitize(float logit) =>
        float.IsNaN(logit) ? float.NegativeInfinity
        : float.IsPositiveInfinity(logit) ? float.MaxValue
        : logit;

    /// <summary>destination[i] = Sanitize(logits[i]) for every i, 16 at a time where the hardware has 512-bit vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static void SanitizeAll(ReadOnlySpan<float> logits, Span<float> destination)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref float source = ref MemoryMarshal.GetReference(logits);
            ref float target = ref MemoryMarshal.GetReference(destination);
            var negativeInfinity = Vector512.Create(float.NegativeInfinity);
            var positiveInfinity = Vector512.Create(float.PositiveInfinity);
            var largest = Vector512.Create(float.MaxValue);
            for (; i <= logits.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var v = Vector512.LoadUnsafe(ref source, (nuint)i);
                v = Vector512.ConditionalSelect(Vector512.Equals(v, v), v, negativeInfinity); // NaN is the only value unequal to itself
                v = Vector512.ConditionalSelect(Vector512.Equals(v, positiveInfinity), largest, v);
                v.StoreUnsafe(ref target, (nuint)i);
            }
        }
        for (; i < logits.Length; i++)
            destination[i] = Sanitize(logits[i]);
    }

    /// <summary>
    /// The largest logit, the lowest id holding it, and how many are finite: one vector pass for the maximum and the count
    /// of -inf, then a scan for the first id equal to the maximum (IEEE equality, so -0 and +0 tie and the lower id wins,
    /// as a strict "greater than" scan in id order decides).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static LogitSummary Summarize(ReadOnlySpan<float> logits)
    {
        float max = float.NegativeInfinity;
        int negativeInfinities = 0;
        int i = 0;
        ref float start = ref MemoryMarshal.GetReference(logits);
        if (Vector512.IsHardwareAccelerated && logits.Length >= Vector512<float>.Count)
        {
            var negativeInfinity = Vector512.Create(float.NegativeInfinity);
            var maxima = negativeInfinity;
            for (; i <= logits.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var v = Vector512.LoadUnsafe(ref start, (nuint)i);
                maxima = Vector512.Max(maxima, v);
                negativeInfinities += BitOperations.PopCount(Vector512.Equals(v, negativeInfinity).ExtractMostSignificantBits());
            }
            max = maxima.ToScalar();
            for (int lane = 1; lane < Vector512<float>.Count; lane++)
                max = MathF.Max(max, maxima[lane]);
        }
        for (; i < logits.Length; i++)
        {
            if (float.IsNegativeInfinity(logits[i]))
                negativeInfinities++;
            else
                max = MathF.Max(max, logits[i]);
        }
        int finiteCount = logits.Length - negativeInfinities;
        if (finiteCount == 0)
        {
            throw new InvalidOperationException(
                $"All {logits.Length} logits are -inf or NaN (after the logit bias and the penalties), so no token can be sampled. " +
                "The model produced invalid output or every token was masked.");
        }
        int argMax = FirstEqual(logits, max);
        return new LogitSummary(logits[argMax], argMax, finiteCount);
    }

    /// <summary>The lowest index whose value equals <paramref name="value"/> (which occurs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static int FirstEqual(ReadOnlySpan<float> logits, float value)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref float start = ref MemoryMarshal.GetReference(logits);
            var target = Vector512.Create(value);
            for (; i <= logits.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                ulong equal = Vector512.Equals(Vector512.LoadUnsafe(ref start, (nuint)i), target).ExtractMostSignificantBits();
                if (equal != 0)
                    return i + BitOperations.TrailingZeroCount(equal);
            }
        }
        for (; i < logits.Length; i++)
        {
            if (logits[i] == value)
                return i;
        }
        throw new InvalidOperationException($"The maximum {value} is not among the {logits.Length} logits.");
    }
}
