using System.Security.Cryptography;
using Cluster.Contracts.Api;
using Cluster.Contracts.Sampling;
using Cluster.JsonSchemas;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Requests;

/// <summary>
/// Turns a Generate call into a <see cref="GenerationRequest"/>: every field checked against the model's limits,
/// the prompt tokenized, every default resolved. A bad field is an <see cref="Grpc.Core.RpcException"/> with
/// INVALID_ARGUMENT whose message names the field, its limit and the value sent.
/// </summary>
public static class GenerateRequestValidator
{
    public const float DefaultTemperature = 1f;
    public const float DefaultTopP = 1f;
    public const float DefaultMinP = 0f;
    public const float DefaultRepetitionPenalty = 1f;
    public const int MaxTopLogprobs = 20;
    /// <summary>presence_penalty and frequency_penalty lie in [-this, this], OpenAI's range (and vLLM's).</summary>
    public const float MaxPenalty = 2f;
    /// <summary>Each logit_bias lies in [-this, this], OpenAI's range.</summary>
    public const float MaxLogitBias = 100f;
    /// <summary>The most logit_bias entries a request may send: a bound on what every step applies.</summary>
    public const int MaxLogitBiasEntries = 1024;

    /// <param name="request">The call as received.</param>
    /// <param name="resolvedModel">The model the call runs on (the default model when <c>model</c> was empty).</param>
    /// <param name="tokenizer">That model's tokenizer.</param>
    /// <param name="limits">That model's limits.</param>
    /// <param name="sessionHistory">
    /// The tokens already in the session's sequence (none for a one-shot request or a session's first turn): a text or
    /// token-id prompt is appended after them, so they count against the context length, and BOS is added only when
    /// there are none. Messages carry the whole conversation: the request keeps the longest prefix of this history
    /// that the rendered conversation repeats (<see cref="GenerationRequest.HistoryKept"/>) and the rest is its prompt.
    /// </param>
    /// <param name="requestId">The id the gateway gave the call.</param>
    /// <param name="drawSeed">Draws the seed when the client sent none; null: a cryptographically random ulong.</param>
    /// <param name="chat">The model's chat format, which renders <c>messages</c>; null when the checkpoint has none.</param>
    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT, naming the field and its limit.</exception>
    public static GenerationRequest Validate(
        GenerateRequest request,
        string resolvedModel,
        CheckpointTokenizer tokenizer,
        ModelLimits limits,
        IReadOnlyList<int> sessionHistory,
        string requestId,
        Func<ulong>? drawSeed = null,
        ChatFormat? chat = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(sessionHistory);

        SamplingParameters sampling = request.Sampling ?? new SamplingParameters();
        int topLogprobs = CheckTopLogprobs(request);
        SamplingSettings resolved = CheckSampling(sampling, limits, topLogprobs, drawSeed, logprobs: request.Logprobs || topLogprobs > 0);
        int? requestedMaxNewTokens = CheckMaxNewTokens(sampling, limits);
        IReadOnlyList<string> stopSequences = CheckStopSequences(sampling, limits);
        IReadOnlyList<int> stopTokenIds = CheckStopTokenIds(sampling, limits);
        PromptTokens.CheckInVocabulary(stopTokenIds, limits, "sampling.stop_token_ids: token id");

        IReadOnlyList<int> prompt;
        int historyKept;
        ChatTools? tools = null;
        if (request.PromptCase == GenerateRequest.PromptOneofCase.Messages)
        {
            ChatFormat format = ChatPrompt.Required(chat, resolvedModel);
            tools = ChatTools.Check(request.Messages, format, resolvedModel);
            if (tools?.CallSchema is { } callSchema)
            {
                resolved = resolved with { Format = CallFormat(resolved, sampling, limits, callSchema) };
            }
            IReadOnlyList<int> conversation = ChatPrompt.Tokenize(request.Messages, format, tools, resolvedModel, tokenizer, limits);
            historyKept = ChatPrompt.ReusablePrefix(sessionHistory, conversation);
            prompt = conversation.Skip(historyKept).ToArray();
        }
        else
        {
            bool addBos = PromptTokens.AddsBos(tokenizer, request.HasAddSpecialTokens ? request.AddSpecialTokens : null, freshSequence: sessionHistory.Count == 0);
            prompt = TokenizePrompt(request, tokenizer, limits, addBos);
            historyKept = sessionHistory.Count;
        }
        int maxNewTokens = CheckContext(historyKept, prompt.Count, requestedMaxNewTokens, limits);
        int? promptLogprobs = CheckPromptLogprobs(request);

        return new GenerationRequest(
            requestId,
            resolvedModel,
            prompt,
            request.SessionId.Length == 0 ? null : request.SessionId,
            resolved,
            maxNewTokens,
            stopSequences,
            stopTokenIds,
            sampling.IgnoreEos,
            historyKept,
            tools,
            promptLogprobs);
    }

    private static int? CheckPromptLogprobs(GenerateRequest request)
    {
        if (!request.HasPromptLogprobs)
        {
            return null;
        }
        if (request.PromptLogprobs > MaxTopLogprobs)
        {
            throw InvalidArgument.Error($"prompt_logprobs must be in [0, {MaxTopLogprobs}]; got {request.PromptLogprobs}");
        }
        return request.SessionId.Length == 0
            ? (int)request.PromptLogprobs
            : throw InvalidArgument.Error("prompt_logprobs cannot be combined with session_id: a session's earlier turns are cached, not scored (send the whole text as a one-shot request)");
    }

    /// <summary>A required tool call holds the answer to its schema, as response_format JSON_SCHEMA would (so not beside one).</summary>
    private static OutputFormat CallFormat(SamplingSettings resolved, SamplingParameters sampling, ModelLimits limits, string callSchema)
    {
        if (resolved.Format is not null)
        {
            throw InvalidArgument.Error("messages.tool_choice REQUIRED or FUNCTION holds the answer to a tool call; it cannot be combined with sampling.response_format");
        }
        return new OutputFormat(EndTokens("messages.tool_choice REQUIRED or FUNCTION", "call", sampling, limits), callSchema);
    }

    /// <summary>
    /// The model's EOS ids, which end a held output (<paramref name="subject"/>: what holds it; <paramref name="what"/>:
    /// what it is): refused with ignore_eos, which would never end it, and for a model without EOS.
    /// </summary>
    private static int[] EndTokens(string subject, string what, SamplingParameters sampling, ModelLimits limits)
    {
        if (sampling.IgnoreEos)
        {
            throw InvalidArgument.Error($"{subject} cannot be combined with ignore_eos: the {what} ends with the model's EOS");
        }
        return limits.EosTokenIds is { Count: > 0 } eos
            ? [.. eos]
            : throw InvalidArgument.Error($"{subject} needs the model's EOS token to end the {what}; this model has none");
    }

    /// <summary>
    /// What samples, checked and with every default resolved (a seed drawn when none was sent): the one check of the
    /// sampling fields, for Generate and for Inspect's sampler view alike.
    /// </summary>
    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT naming the field and its range.</exception>
    /// <param name="logprobs">The request asked for log-probabilities (they are computed only then).</param>
    /// <param name="limits">The model's limits: logit_bias names token ids, which must be in its vocabulary.</param>
    public static SamplingSettings CheckSampling(SamplingParameters sampling, ModelLimits limits, int topLogprobs, Func<ulong>? drawSeed = null, bool logprobs = false) => new(
        CheckTemperature(sampling),
        CheckTopK(sampling),
        CheckTopP(sampling),
        CheckRepetitionPenalty(sampling),
        sampling.HasSeed ? sampling.Seed : (drawSeed ?? RandomSeed)(),
        topLogprobs,
        CheckMinP(sampling),
        logprobs,
        CheckPenalty(sampling.PresencePenalty, "presence_penalty"),
        CheckPenalty(sampling.FrequencyPenalty, "frequency_penalty"),
        CheckLogitBias(sampling, limits),
        CheckResponseFormat(sampling, limits));

    /// <summary>
    /// What the output must be (JSON mode, a JSON schema, a regular expression; the model's EOS ends it), or null for
    /// free text. A schema or pattern is compiled here, so one the silo could not hold the output to never leaves the
    /// gateway.
    /// </summary>
    private static OutputFormat? CheckResponseFormat(SamplingParameters sampling, ModelLimits limits)
    {
        var format = sampling.ResponseFormat;
        var name = format switch
        {
            ResponseFormat.Text => "TEXT",
            ResponseFormat.JsonObject => "JSON_OBJECT",
            ResponseFormat.JsonSchema => "JSON_SCHEMA",
            ResponseFormat.Regex => "REGEX",
            _ => throw InvalidArgument.Error($"sampling.response_format must be TEXT, JSON_OBJECT, JSON_SCHEMA or REGEX; got {(int)format}"),
        };
        if (format != ResponseFormat.JsonSchema && sampling.JsonSchema.Length > 0)
        {
            throw InvalidArgument.Error($"sampling.json_schema is given but sampling.response_format is {name}; set it to JSON_SCHEMA");
        }
        if (format != ResponseFormat.Regex && sampling.Regex.Length > 0)
        {
            throw InvalidArgument.Error($"sampling.regex is given but sampling.response_format is {name}; set it to REGEX");
        }
        if (format == ResponseFormat.Text)
        {
            return null;
        }
        var eos = EndTokens($"sampling.response_format {name}", "value", sampling, limits);
        return format switch
        {
            ResponseFormat.JsonSchema => new OutputFormat(eos, Schema: Compiled(sampling.JsonSchema, "json_schema", "a JSON Schema's text", CompiledTexts.CheckSchema)),
            ResponseFormat.Regex => new OutputFormat(eos, Pattern: Compiled(sampling.Regex, "regex", "a regular expression", CompiledTexts.CheckPattern)),
            _ => new OutputFormat(eos),
        };
    }

    /// <summary>A schema or pattern, checked by compiling it (<see cref="CompiledTexts"/>).</summary>
    private static string Compiled(string text, string field, string what, Action<string> check)
    {
        if (text.Length == 0)
        {
            throw InvalidArgument.Error($"sampling.{field} is required with response_format {field.ToUpperInvariant()} ({what})");
        }
        try
        {
            check(text);
            return text;
        }
        catch (JsonSchemaException e)
        {
            throw InvalidArgument.Error($"sampling.{field} at {(e.Pointer.Length == 0 ? "its root" : e.Pointer)}: {e.Problem}");
        }
    }

    private static float CheckPenalty(float value, string field) =>
        value >= -MaxPenalty && value <= MaxPenalty // false for NaN
            ? value
            : throw InvalidArgument.Error($"sampling.{field} must be in [-{MaxPenalty}, {MaxPenalty}]; got {InvalidArgument.Show(value)}");

    /// <summary>The bias map as the stages carry it (ascending ids); null when empty.</summary>
    private static LogitBias? CheckLogitBias(SamplingParameters sampling, ModelLimits limits)
    {
        var bias = sampling.LogitBias;
        if (bias.Count == 0)
        {
            return null;
        }
        if (bias.Count > MaxLogitBiasEntries)
        {
            throw InvalidArgument.Error($"sampling.logit_bias has {bias.Count} entries; at most {MaxLogitBiasEntries}");
        }
        var ids = bias.Keys.Order().ToArray();
        var values = new float[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            var id = ids[i];
            if (id < 0 || id >= limits.VocabularySize)
            {
                throw InvalidArgument.Error($"sampling.logit_bias: token id {id} is outside the vocabulary {InvalidArgument.VocabularyRange(limits.VocabularySize)}");
            }
            values[i] = bias[id] is var value && value >= -MaxLogitBias && value <= MaxLogitBias // false for NaN
                ? value
                : throw InvalidArgument.Error($"sampling.logit_bias[{id}] must be in [-{MaxLogitBias}, {MaxLogitBias}]; got {InvalidArgument.Show(bias[id])}");
        }
        return new LogitBias(ids, values);
    }

    private static float CheckTemperature(SamplingParameters sampling)
    {
        if (!sampling.HasTemperature)
        {
            return DefaultTemperature;
        }

        float value = sampling.Temperature;
        return float.IsFinite(value) && value >= 0
            ? value
            : throw InvalidArgument.Error($"sampling.temperature must be >= 0 and finite; got {InvalidArgument.Show(value)}");
    }

    private static float CheckTopP(SamplingParameters sampling)
    {
        if (!sampling.HasTopP)
        {
            return DefaultTopP;
        }

        float value = sampling.TopP;
        return value > 0 && value <= 1 // false for NaN
            ? value
            : throw InvalidArgument.Error($"sampling.top_p must be in (0, 1]; got {InvalidArgument.Show(value)}");
    }

    private static float CheckMinP(SamplingParameters sampling)
    {
        if (!sampling.HasMinP)
        {
            return DefaultMinP;
        }

        float value = sampling.MinP;
        return value >= 0 && value <= 1 // false for NaN
            ? value
            : throw InvalidArgument.Error($"sampling.min_p must be in [0, 1]; got {InvalidArgument.Show(value)}");
    }

    private static int CheckTopK(SamplingParameters sampling) =>
        sampling.TopK >= 0 ? sampling.TopK : throw InvalidArgument.Error($"sampling.top_k must be >= 0; got {sampling.TopK}");

    private static float CheckRepetitionPenalty(SamplingParameters sampling)
    {
        if (!sampling.HasRepetitionPenalty)
        {
            return DefaultRepetitionPenalty;
        }

        float value = sampling.RepetitionPenalty;
        return float.IsFinite(value) && value > 0
            ? value
            : throw InvalidArgument.Error($"sampling.repetition_penalty must be > 0 and finite; got {InvalidArgument.Show(value)}");
    }

    private static int? CheckMaxNewTokens(SamplingParameters sampling, ModelLimits limits)
    {
        if (!sampling.HasMaxNewTokens)
        {
            return null;
        }

        uint value = sampling.MaxNewTokens;
        return value >= 1 && value <= limits.MaxNewTokensLimit
            ? (int)value
            : throw InvalidArgument.Error($"sampling.max_new_tokens must be in [1, {limits.MaxNewTokensLimit}]; got {value}");
    }

    private static int CheckTopLogprobs(GenerateRequest request) =>
        request.TopLogprobs <= MaxTopLogprobs
            ? (int)request.TopLogprobs
            : throw InvalidArgument.Error($"top_logprobs must be in [0, {MaxTopLogprobs}]; got {request.TopLogprobs}");

    private static IReadOnlyList<string> CheckStopSequences(SamplingParameters sampling, ModelLimits limits)
    {
        if (sampling.Stop.Count > limits.MaxStopSequences)
        {
            throw InvalidArgument.Error($"sampling.stop has {sampling.Stop.Count} sequences; at most {limits.MaxStopSequences} are allowed");
        }

        for (int i = 0; i < sampling.Stop.Count; i++)
        {
            string stop = sampling.Stop[i];
            if (stop.Length == 0)
            {
                throw InvalidArgument.Error($"sampling.stop[{i}] is empty; a stop sequence needs at least 1 character");
            }

            if (stop.Length > limits.MaxStopSequenceLength)
            {
                throw InvalidArgument.Error($"sampling.stop[{i}] is {stop.Length} characters long; at most {limits.MaxStopSequenceLength} are allowed");
            }
        }

        return [.. sampling.Stop.Distinct(StringComparer.Ordinal)];
    }

    /// <summary>Bounded like the stop sequences: each is checked after every sampled token.</summary>
    private static IReadOnlyList<int> CheckStopTokenIds(SamplingParameters sampling, ModelLimits limits) =>
        sampling.StopTokenIds.Count <= limits.MaxStopTokenIds
            ? [.. sampling.StopTokenIds.Distinct()]
            : throw InvalidArgument.Error($"sampling.stop_token_ids has {sampling.StopTokenIds.Count} ids; at most {limits.MaxStopTokenIds} are allowed");

    private static IReadOnlyList<int> TokenizePrompt(GenerateRequest request, CheckpointTokenizer tokenizer, ModelLimits limits, bool addBos)
    {
        switch (request.PromptCase)
        {
            case GenerateRequest.PromptOneofCase.Text:
                if (request.Text.Length == 0)
                {
                    throw InvalidArgument.Error("prompt is empty: text has no characters");
                }

                PromptTokens.CheckTextLength(request.Text, limits, "prompt text");
                IReadOnlyList<int> encoded = tokenizer.Encode(request.Text, addBos: false);
                if (encoded.Count == 0)
                {
                    throw InvalidArgument.Error("prompt is empty: text has no tokens");
                }

                return addBos ? PromptTokens.WithBos(encoded, tokenizer.BosTokenId!.Value) : encoded;

            case GenerateRequest.PromptOneofCase.TokenIds:
                IReadOnlyList<int> ids = [.. request.TokenIds.Ids];
                if (ids.Count == 0)
                {
                    throw InvalidArgument.Error("prompt is empty: token_ids has no ids");
                }

                PromptTokens.CheckInVocabulary(ids, limits, "prompt token id");
                return addBos ? PromptTokens.WithBos(ids, tokenizer.BosTokenId!.Value) : ids;

            default:
                throw InvalidArgument.Error("prompt is empty: set text, token_ids or messages");
        }
    }

    /// <summary>The max_new_tokens that fits: the one asked for, checked, or the default capped at what the context leaves.</summary>
    private static int CheckContext(int history, int prompt, int? requested, ModelLimits limits)
    {
        string used = history == 0
            ? $"prompt ({prompt} tokens)"
            : $"session history ({history} tokens) + prompt ({prompt} tokens)";
        long room = (long)limits.ContextLength - history - prompt;

        if (requested is int asked)
        {
            if (asked > room)
            {
                throw InvalidArgument.Error($"{used} + max_new_tokens ({asked}) = {(long)history + prompt + asked} exceeds the context length {limits.ContextLength}");
            }

            return asked;
        }

        if (room < 1)
        {
            string sum = history == 0 ? used : $"{used} = {(long)history + prompt}";
            throw InvalidArgument.Error($"{sum} leaves no room for new tokens in the context length {limits.ContextLength}");
        }

        return (int)Math.Min(Math.Min(limits.DefaultMaxNewTokens, limits.MaxNewTokensLimit), room);
    }

    private static ulong RandomSeed()
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        RandomNumberGenerator.Fill(bytes);
        return BitConverter.ToUInt64(bytes);
    }
}
