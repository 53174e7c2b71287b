using System.Text.Json;
using Cluster.Contracts.Api;

namespace Cluster.Gateway.OpenAi;

/// <summary>Which OpenAI endpoint a request came to: it decides the prompt field, the logprobs shape and the response objects.</summary>
internal enum OpenAiEndpoint
{
    Completions,
    ChatCompletions,
    Responses,
}

/// <summary>
/// An OpenAI completions or chat-completions body as the gRPC API's <see cref="GenerateRequest"/>, so that it runs
/// through the same validator, scheduler and limits. Only the fields' shapes are checked here (and the OpenAI
/// parameters this server does not implement, each a 400 naming it); their ranges and the model's limits are the
/// validator's, whose messages <see cref="FieldNames"/> puts back into this request's vocabulary.
/// </summary>
/// <param name="MaxTokensField">The field that set the length limit: <c>max_tokens</c> or <c>max_completion_tokens</c>.</param>
/// <param name="PerPrompt">OpenAI's <c>n</c>: how many completions of each prompt to generate (see <see cref="ForChoice"/>).</param>
/// <param name="Echo">Completions' <c>echo</c>: each choice's text starts with its prompt's.</param>
/// <param name="OneToolCall">Chat's <c>parallel_tool_calls: false</c>: at most one call per answer (the first).</param>
/// <param name="PromptOnly">Completions' <c>max_tokens: 0</c> with <c>echo</c>: each choice is its prompt alone (with its log-probabilities when asked).</param>
/// <param name="Prompts">
/// Completions given a list of prompts (a batch, as lm-evaluation-harness sends one): each prompt's request, in order;
/// null for one prompt, which is <see cref="Request"/>.
/// </param>
internal sealed record OpenAiRequest(
    OpenAiEndpoint Endpoint,
    GenerateRequest Request,
    bool Stream,
    bool IncludeUsage,
    string MaxTokensField,
    int PerPrompt = 1,
    bool Echo = false,
    bool OneToolCall = false,
    IReadOnlyList<GenerateRequest>? Prompts = null,
    bool PromptOnly = false)
{
    /// <summary>The most choices (<c>n</c>) one request may ask for per prompt: each is a sequence of its own in the scheduler.</summary>
    public const int MaxChoices = 16;

    /// <summary>The most completions one request may ask for, prompts times <c>n</c>.</summary>
    public const int MaxCompletions = 64;

    /// <summary>How many prompts the request gave (completions may give a list).</summary>
    public int PromptCount => Prompts?.Count ?? 1;

    /// <summary>Every completion the request asks for: OpenAI orders them by prompt, then by <c>n</c>.</summary>
    public int Choices => PromptCount * PerPrompt;

    /// <summary>The request of the prompt that choice <paramref name="index"/> completes.</summary>
    public GenerateRequest PromptOf(int index) => Prompts?[index / PerPrompt] ?? Request;

    /// <summary>
    /// The request that generates choice <paramref name="index"/>: its prompt and the settings, and with a seed, seed +
    /// its place among the prompt's <c>n</c> (so the choices differ and each can be replayed alone through gRPC with its
    /// seed); without one, each choice draws its own. Greedy choices of a prompt are all the same completion, as they
    /// are on the peers.
    /// </summary>
    public GenerateRequest ForChoice(int index)
    {
        var prompt = PromptOf(index);
        var offset = index % PerPrompt;
        if (offset == 0)
        {
            return prompt;
        }
        var request = prompt.Clone();
        if (request.Sampling.HasSeed)
        {
            request.Sampling.Seed = unchecked(request.Sampling.Seed + (ulong)offset);
        }
        return request;
    }

    /// <summary>
    /// The request offers tools it may call: its stream holds back what may be a call until the answer's end, where the
    /// calls or the rest of the text go whole.
    /// </summary>
    public bool MayCallTools => Request.PromptCase == GenerateRequest.PromptOneofCase.Messages && Request.Messages.Tools.Count > 0 && Request.Messages.ToolChoice != ToolChoice.None;

    /// <summary>The model decides whether to call (tool_choice auto): what is surely text can stream before the end.</summary>
    public bool ModelDecidesCalls => MayCallTools && Request.Messages.ToolChoice == ToolChoice.Auto;

    /// <summary>Logprobs were asked for: OpenAI's <c>logprobs</c> (a count on completions, a flag on chat).</summary>
    public bool Logprobs => Request.Logprobs;

    /// <summary>The validator's field names as this request spelled them ("sampling.max_new_tokens" → "max_tokens").</summary>
    public string FieldNames(string message)
    {
        foreach (var (from, to) in Endpoint == OpenAiEndpoint.Responses ? ResponsesNames.Concat(ChatNames) : ChatNames)
        {
            message = message.Replace(from, to, StringComparison.Ordinal);
        }
        return message
            .Replace("max_new_tokens", MaxTokensField, StringComparison.Ordinal)
            .Replace("sampling.", "", StringComparison.Ordinal)
            .Replace("top_logprobs", Endpoint == OpenAiEndpoint.Completions ? "logprobs" : "top_logprobs", StringComparison.Ordinal)
            .Replace("token_ids", "prompt", StringComparison.Ordinal);
    }

    /// <summary>The gRPC API's names → chat's (and completions'), in the order they are replaced.</summary>
    private static readonly (string From, string To)[] ChatNames =
    [
        ("sampling.json_schema", "response_format.json_schema.schema"),
        ("sampling.regex", "guided_regex"),
        ("messages.tool_choice_name", "tool_choice.function.name"),
        ("messages.tool_choice", "tool_choice"),
        ("messages.tools", "tools"),
        ("].parameters_json", "].function.parameters"),
        ("].arguments_json", "].function.arguments"),
    ];

    /// <summary>Where the Responses API's names differ from chat's: its schema in text.format, flat tools, input for messages; replaced first.</summary>
    private static readonly (string From, string To)[] ResponsesNames =
    [
        ("sampling.json_schema", "text.format.schema"),
        ("sampling.response_format", "text.format"),
        ("messages.tool_choice_name", "tool_choice.name"),
        ("messages.tool_choice", "tool_choice"),
        ("messages.tools", "tools"),
        ("].parameters_json", "].parameters"),
        ("].arguments_json", "].arguments"),
        ("messages", "input"),
    ];

    public static OpenAiRequest Parse(OpenAiEndpoint endpoint, JsonElement body)
    {
        var json = OpenAiJson.Body(body);
        RefuseUnsupported(json, endpoint);
        var request = new GenerateRequest { Model = json.String("model") ?? "" };
        var maxTokensField = endpoint == OpenAiEndpoint.ChatCompletions && json.Has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        request.Sampling = Sampling(json, maxTokensField);
        IReadOnlyList<GenerateRequest>? prompts = null;
        if (endpoint == OpenAiEndpoint.Completions)
        {
            prompts = SetPrompts(request, json);
            // Completions' logprobs is the number of alternatives per token (OpenAI allows 0-5; the validator's limit applies).
            if (json.Integer("logprobs", 0, uint.MaxValue) is { } alternatives)
            {
                request.Logprobs = true;
                request.TopLogprobs = (uint)alternatives;
            }
        }
        else
        {
            request.Messages = Messages(json);
            request.Logprobs = json.Bool("logprobs") ?? false;
            if (json.Integer("top_logprobs", 0, uint.MaxValue) is { } alternatives)
            {
                request.TopLogprobs = request.Logprobs ? (uint)alternatives : throw OpenAiError.BadRequest("top_logprobs needs logprobs set to true", "top_logprobs");
            }
        }
        if (json.Bool("add_special_tokens") is { } addSpecial)
        {
            request.AddSpecialTokens = addSpecial;
        }
        var stream = json.Bool("stream") ?? false;
        var includeUsage = false;
        if (json.Element("stream_options") is { } options)
        {
            if (!stream)
            {
                throw OpenAiError.BadRequest("stream_options is only allowed when stream is true", "stream_options");
            }
            if (options.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiJson.WrongType("stream_options", "an object", options);
            }
            includeUsage = new OpenAiJson(options).Bool("include_usage") ?? false;
        }
        var choices = (int)(json.Integer("n", 1, MaxChoices) ?? 1);
        if (prompts is not null && prompts.Count * choices > MaxCompletions)
        {
            throw OpenAiError.BadRequest($"prompt has {prompts.Count} prompts and n is {choices}: at most {MaxCompletions} completions per request (send fewer prompts per request)", "prompt");
        }
        var echo = endpoint == OpenAiEndpoint.Completions && json.Bool("echo") == true;
        if (echo && request.Logprobs)
        {
            request.PromptLogprobs = request.TopLogprobs; // the echoed prompt's tokens come with theirs, as OpenAI's legacy completions did
        }
        // max_tokens 0 with echo: the prompt alone (scoring tools send it, and vLLM answers it). The prefill still
        // ends in a step that samples; that one token is not returned.
        var promptOnly = echo && request.Sampling.HasMaxNewTokens && request.Sampling.MaxNewTokens == 0;
        if (promptOnly)
        {
            request.Sampling.MaxNewTokens = 1;
        }
        var oneCall = endpoint == OpenAiEndpoint.ChatCompletions && json.Bool("parallel_tool_calls") == false;
        // Each listed prompt's request: the settings read above, with its own prompt (Logprobs and the rest are set by now).
        var batch = prompts?.Select(prompt =>
        {
            var one = request.Clone();
            one.Text = "";
            if (prompt.PromptCase == GenerateRequest.PromptOneofCase.TokenIds)
            {
                one.TokenIds = prompt.TokenIds;
            }
            else
            {
                one.Text = prompt.Text;
            }
            return one;
        }).ToList();
        return new OpenAiRequest(endpoint, batch?[0] ?? request, stream, includeUsage, maxTokensField, choices, echo, oneCall, batch, promptOnly);
    }

    /// <summary>The sampling fields every endpoint shares (and vLLM's extras), with the length limit in <paramref name="maxTokensField"/>.</summary>
    public static SamplingParameters Sampling(OpenAiJson json, string maxTokensField)
    {
        var sampling = new SamplingParameters();
        if (json.Integer(maxTokensField, 0, uint.MaxValue) is { } maxTokens)
        {
            sampling.MaxNewTokens = (uint)maxTokens; // 0 reaches the validator, which names its range
        }
        if (json.Float("temperature") is { } temperature)
        {
            sampling.Temperature = temperature;
        }
        if (json.Float("top_p") is { } topP)
        {
            sampling.TopP = topP;
        }
        if (json.Integer("top_k", -1, int.MaxValue) is { } topK)
        {
            sampling.TopK = (int)Math.Max(0, topK); // vLLM's -1 and our 0 both mean "no top-k"
        }
        if (json.Float("min_p") is { } minP)
        {
            sampling.MinP = minP;
        }
        if (json.Float("repetition_penalty") is { } penalty)
        {
            sampling.RepetitionPenalty = penalty;
        }
        if (json.Float("presence_penalty") is { } presence)
        {
            sampling.PresencePenalty = presence;
        }
        if (json.Float("frequency_penalty") is { } frequency)
        {
            sampling.FrequencyPenalty = frequency;
        }
        foreach (var (id, bias) in LogitBias(json))
        {
            sampling.LogitBias[id] = bias;
        }
        if (json.Integer("seed") is { } seed)
        {
            sampling.Seed = unchecked((ulong)seed); // OpenAI's seed is a signed 64-bit integer; every value is a distinct seed
        }
        sampling.Stop.AddRange(json.Strings("stop"));
        sampling.StopTokenIds.AddRange(json.Integers("stop_token_ids"));
        sampling.IgnoreEos = json.Bool("ignore_eos") ?? false;
        OpenAiOutputFormat.Read(json, sampling);
        return sampling;
    }

    /// <summary>
    /// OpenAI's <c>logit_bias</c>: an object whose keys are token ids written as strings ("50256": -100) and whose values
    /// are numbers. The ids and values are checked against the model by the validator; here only their types.
    /// </summary>
    private static IEnumerable<(int Id, float Bias)> LogitBias(OpenAiJson json)
    {
        switch (json.Element("logit_bias"))
        {
            case null:
                yield break;
            case { ValueKind: JsonValueKind.Object } map:
                foreach (var entry in map.EnumerateObject())
                {
                    if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var id))
                    {
                        throw OpenAiError.BadRequest($"logit_bias keys must be token ids (integers written as strings); got \"{entry.Name}\"", "logit_bias");
                    }
                    if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetDouble(out var bias) || !double.IsFinite(bias))
                    {
                        throw OpenAiJson.WrongType($"logit_bias[{entry.Name}]", "a number", entry.Value);
                    }
                    yield return (id, (float)bias);
                }
                break;
            case { } other:
                throw OpenAiJson.WrongType("logit_bias", "an object of token ids to numbers", other);
        }
    }

    /// <summary>
    /// Completions' prompt: a string or an array of token ids (set on <paramref name="request"/>; null returned), or a
    /// list of either (a batch: each prompt returned as a request of its own, in order; one-element lists are one prompt).
    /// </summary>
    private static List<GenerateRequest>? SetPrompts(GenerateRequest request, OpenAiJson json)
    {
        var prompt = json.Element("prompt") ?? throw OpenAiError.BadRequest("prompt is required", "prompt");
        if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() > 0 && prompt.EnumerateArray().All(item => item.ValueKind is JsonValueKind.String or JsonValueKind.Array))
        {
            if (prompt.GetArrayLength() > MaxCompletions)
            {
                throw OpenAiError.BadRequest($"prompt has {prompt.GetArrayLength()} prompts; at most {MaxCompletions} per request", "prompt");
            }
            var prompts = prompt.EnumerateArray().Select((item, i) =>
            {
                var one = new GenerateRequest();
                SetPrompt(one, item, $"prompt[{i}]");
                return one;
            }).ToList();
            if (prompts.Count > 1)
            {
                return prompts;
            }
            prompt = prompt[0];
        }
        SetPrompt(request, prompt, "prompt");
        return null;
    }

    private static void SetPrompt(GenerateRequest request, JsonElement prompt, string field)
    {
        switch (prompt.ValueKind)
        {
            case JsonValueKind.String:
                request.Text = prompt.GetString()!;
                return;
            case JsonValueKind.Array when prompt.EnumerateArray().Any(item => item.ValueKind is JsonValueKind.String or JsonValueKind.Array):
                throw OpenAiError.BadRequest($"{field} mixes prompts and token ids: give a string, an array of token ids, or a list of either", "prompt");
            case JsonValueKind.Array:
                request.TokenIds = new TokenIds();
                request.TokenIds.Ids.AddRange(OpenAiJson.Ids(prompt, field));
                return;
            default:
                throw OpenAiJson.WrongType(field, "a string or an array of token ids", prompt);
        }
    }

    /// <summary>Chat messages: a role and content that is a string, or an array of text parts (joined), or null (empty).</summary>
    public static ChatMessages Messages(OpenAiJson json)
    {
        var messages = json.Element("messages") ?? throw OpenAiError.BadRequest("messages is required", "messages");
        if (messages.ValueKind != JsonValueKind.Array)
        {
            throw OpenAiJson.WrongType("messages", "an array of messages", messages);
        }
        var result = new ChatMessages();
        var i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var field = $"messages[{i++}]";
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiJson.WrongType(field, "an object with role and content", message);
            }
            var fields = new OpenAiJson(message);
            var turn = new ChatMessage
            {
                Role = fields.String("role") ?? throw OpenAiError.BadRequest($"{field}.role is required", "messages"),
                Content = fields.Text("content", field, "messages", "text"),
                ToolCallId = fields.String("tool_call_id") ?? "",
            };
            turn.ToolCalls.AddRange(OpenAiTools.ToolCalls(fields.Element("tool_calls"), $"{field}.tool_calls"));
            result.Messages.Add(turn);
        }
        result.Tools.AddRange(OpenAiTools.Tools(json));
        OpenAiTools.ReadToolChoice(json, result);
        return result;
    }

    /// <summary>
    /// OpenAI parameters this server does not implement: a request that sets one to anything but its neutral value is
    /// refused naming it, never answered as if it had been applied. Fields that change nothing here (user, metadata,
    /// store, service_tier, ...) are ignored, as the peers do.
    /// </summary>
    private static void RefuseUnsupported(OpenAiJson json, OpenAiEndpoint endpoint)
    {
        if (endpoint == OpenAiEndpoint.Completions)
        {
            if (json.Integer("best_of") is { } bestOf && bestOf != 1)
            {
                throw OpenAiError.BadRequest($"best_of must be 1; got {bestOf}", "best_of");
            }
            if (!string.IsNullOrEmpty(json.String("suffix")))
            {
                throw OpenAiError.BadRequest("suffix is not supported", "suffix");
            }
            return;
        }
        if (json.Element("functions") is { ValueKind: JsonValueKind.Array } functions && functions.GetArrayLength() > 0)
        {
            throw OpenAiError.BadRequest("functions (deprecated by OpenAI) is not supported: send tools", "functions");
        }
    }
}
