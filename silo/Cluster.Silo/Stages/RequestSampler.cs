using Cluster.Contracts.Sampling;
using Cluster.Contracts.Stages;
using Cluster.Engine.Sampling;
using Cluster.Engine.Sampling.Json;

namespace Cluster.Silo.Stages;

/// <summary>
/// The sampler of one request in one session on the last stage. Reused from step to step while the request and its
/// draw count match; rebuilt and advanced to <see cref="SamplingRequest.DrawIndex"/> otherwise (a new request, or
/// this stage lost the session and the gateway replayed it), so a seeded request draws the same tokens either way.
/// </summary>
internal sealed class RequestSampler
{
    private readonly SamplingRequest _settings; // with DrawIndex 0: what identifies the request's stream
    private readonly TokenSampler _sampler;

    private RequestSampler(SamplingRequest settings, TokenSampler sampler)
    {
        _settings = settings;
        _sampler = sampler;
    }

    /// <summary>The sampler for <paramref name="request"/>: the session's own when it is at the right draw, else a rebuilt one.</summary>
    /// <param name="jsonTable">The vocabulary's bytes, asked for only when the request's output has a format (built on first use).</param>
    public static TokenSampler For(StageSession session, SamplingRequest request, Func<JsonTokenTable> jsonTable)
    {
        var settings = request with { DrawIndex = 0 };
        if (session.Sampler is { } current && current._settings == settings && current._sampler.Steps == request.DrawIndex)
        {
            return current._sampler;
        }
        // A rebuilt constraint reads the request's output so far from the session's history at its first step.
        IOutputConstraint? constraint = request.Settings.Format switch
        {
            null => null,
            { Schema: null, Pattern: null } json => new JsonObjectConstraint(jsonTable(), json.EndTokenIds),
            { } text => new TextAutomatonConstraint(TextAutomatonMasks.For(jsonTable(), text), text.EndTokenIds),
        };
        var sampler = new TokenSampler(Parameters(request.Settings), constraint);
        sampler.SkipSteps(request.DrawIndex);
        session.Sampler = new RequestSampler(settings, sampler);
        return sampler;
    }

    /// <summary>
    /// The one mapping from the wire record to the engine's sampler settings, field for field.
    /// <see cref="SamplingParameters.Validate"/> names the wire field of a bad value.
    /// </summary>
    public static SamplingParameters Parameters(SamplingSettings settings) => new()
    {
        Temperature = settings.Temperature,
        TopK = settings.TopK,
        TopP = settings.TopP,
        MinP = settings.MinP,
        RepetitionPenalty = settings.RepetitionPenalty,
        PresencePenalty = settings.PresencePenalty,
        FrequencyPenalty = settings.FrequencyPenalty,
        LogitBias = settings.LogitBias is { } bias ? bias.TokenIds.Zip(bias.Biases).ToDictionary(pair => pair.First, pair => pair.Second) : null,
        Seed = settings.Seed,
        TopLogprobs = settings.TopLogprobs,
        Logprobs = settings.Logprobs,
    };
}
