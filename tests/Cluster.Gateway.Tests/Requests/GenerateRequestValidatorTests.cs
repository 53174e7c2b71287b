using Cluster.Contracts.Api;
using Cluster.Contracts.Sampling;
using Cluster.Gateway.Requests;
using Cluster.Tokenizers;
using Grpc.Core;

namespace Cluster.Gateway.Tests.Requests;

/// <summary>Every bad Generate input becomes INVALID_ARGUMENT naming the field and its limit; good ones get every default.</summary>
public sealed class GenerateRequestValidatorTests
{
    /// <summary>Small limits so that each one is easy to cross.</summary>
    private static readonly ModelLimits Limits = new(
        ContextLength: 64,
        VocabularySize: 1024,
        MaxNewTokensLimit: 32,
        DefaultMaxNewTokens: 16,
        MaxStopSequences: 4,
        MaxStopSequenceLength: 8,
        MaxPromptCharacters: 100);

    private sealed record BadCase(Action<GenerateRequest> Change, int SessionHistory, params string[] MessageParts);

    private static int[] Ids(int count) => Enumerable.Range(10, count).ToArray();

    private static readonly Dictionary<string, BadCase> BadCases = new()
    {
        ["temperature NaN"] = new(r => r.Sampling.Temperature = float.NaN, 0, "sampling.temperature must be >= 0 and finite; got NaN"),
        ["temperature negative"] = new(r => r.Sampling.Temperature = -0.5f, 0, "sampling.temperature must be >= 0 and finite; got -0.5"),
        ["temperature infinite"] = new(r => r.Sampling.Temperature = float.PositiveInfinity, 0, "sampling.temperature", ">= 0 and finite", "Infinity"),
        ["top_p 0"] = new(r => r.Sampling.TopP = 0f, 0, "sampling.top_p must be in (0, 1]; got 0"),
        ["top_p above 1"] = new(r => r.Sampling.TopP = 1.5f, 0, "sampling.top_p must be in (0, 1]; got 1.5"),
        ["top_p NaN"] = new(r => r.Sampling.TopP = float.NaN, 0, "sampling.top_p must be in (0, 1]; got NaN"),
        ["top_p negative"] = new(r => r.Sampling.TopP = -0.1f, 0, "sampling.top_p must be in (0, 1]; got -0.1"),
        ["min_p above 1"] = new(r => r.Sampling.MinP = 1.5f, 0, "sampling.min_p must be in [0, 1]; got 1.5"),
        ["min_p negative"] = new(r => r.Sampling.MinP = -0.1f, 0, "sampling.min_p must be in [0, 1]; got -0.1"),
        ["min_p NaN"] = new(r => r.Sampling.MinP = float.NaN, 0, "sampling.min_p must be in [0, 1]; got NaN"),
        ["min_p infinite"] = new(r => r.Sampling.MinP = float.PositiveInfinity, 0, "sampling.min_p must be in [0, 1]; got Infinity"),
        ["presence_penalty above 2"] = new(r => r.Sampling.PresencePenalty = 2.5f, 0, "sampling.presence_penalty must be in [-2, 2]; got 2.5"),
        ["presence_penalty NaN"] = new(r => r.Sampling.PresencePenalty = float.NaN, 0, "sampling.presence_penalty must be in [-2, 2]; got NaN"),
        ["frequency_penalty below -2"] = new(r => r.Sampling.FrequencyPenalty = -2.5f, 0, "sampling.frequency_penalty must be in [-2, 2]; got -2.5"),
        ["frequency_penalty infinite"] = new(r => r.Sampling.FrequencyPenalty = float.NegativeInfinity, 0, "sampling.frequency_penalty must be in [-2, 2]; got -Infinity"),
        ["logit_bias above 100"] = new(r => r.Sampling.LogitBias[7] = 100.5f, 0, "sampling.logit_bias[7] must be in [-100, 100]; got 100.5"),
        ["logit_bias NaN"] = new(r => r.Sampling.LogitBias[7] = float.NaN, 0, "sampling.logit_bias[7] must be in [-100, 100]; got NaN"),
        ["logit_bias beyond the vocabulary"] = new(r => { r.Sampling.LogitBias[5] = 1f; r.Sampling.LogitBias[1024] = 1f; }, 0, "sampling.logit_bias: token id 1024 is outside the vocabulary [0, 1024)"),
        ["logit_bias negative id"] = new(r => r.Sampling.LogitBias[-2] = 1f, 0, "sampling.logit_bias: token id -2 is outside the vocabulary [0, 1024)"),
        ["too many logit_bias entries"] = new(r => { for (var id = 0; id < 1025; id++) r.Sampling.LogitBias[id % 1024 + (id / 1024) * 2000] = 1f; }, 0, "sampling.logit_bias has 1025 entries; at most 1024"),
        ["json mode with ignore_eos"] = new(r => { r.Sampling.ResponseFormat = ResponseFormat.JsonObject; r.Sampling.IgnoreEos = true; }, 0, "sampling.response_format JSON_OBJECT cannot be combined with ignore_eos"),
        ["json schema with ignore_eos"] = new(r => { r.Sampling.ResponseFormat = ResponseFormat.JsonSchema; r.Sampling.JsonSchema = "{}"; r.Sampling.IgnoreEos = true; }, 0, "sampling.response_format JSON_SCHEMA cannot be combined with ignore_eos"),
        ["json_schema without its format"] = new(r => r.Sampling.JsonSchema = "{}", 0, "sampling.json_schema is given but sampling.response_format is TEXT; set it to JSON_SCHEMA"),
        ["regex without its format"] = new(r => { r.Sampling.ResponseFormat = ResponseFormat.JsonObject; r.Sampling.Regex = "a"; }, 0, "sampling.regex is given but sampling.response_format is JSON_OBJECT; set it to REGEX"),
        ["json mode without an EOS"] = new(r => r.Sampling.ResponseFormat = ResponseFormat.JsonObject, 0, "sampling.response_format JSON_OBJECT needs the model's EOS token to end the value; this model has none"),
        ["unknown response_format"] = new(r => r.Sampling.ResponseFormat = (ResponseFormat)7, 0, "sampling.response_format must be TEXT, JSON_OBJECT, JSON_SCHEMA or REGEX; got 7"),
        ["top_k negative"] = new(r => r.Sampling.TopK = -1, 0, "sampling.top_k must be >= 0; got -1"),
        ["repetition_penalty 0"] = new(r => r.Sampling.RepetitionPenalty = 0f, 0, "sampling.repetition_penalty must be > 0 and finite; got 0"),
        ["repetition_penalty negative"] = new(r => r.Sampling.RepetitionPenalty = -1f, 0, "sampling.repetition_penalty must be > 0 and finite; got -1"),
        ["repetition_penalty NaN"] = new(r => r.Sampling.RepetitionPenalty = float.NaN, 0, "sampling.repetition_penalty must be > 0 and finite; got NaN"),
        ["repetition_penalty infinite"] = new(r => r.Sampling.RepetitionPenalty = float.PositiveInfinity, 0, "sampling.repetition_penalty", "> 0 and finite", "Infinity"),
        ["max_new_tokens 0"] = new(r => r.Sampling.MaxNewTokens = 0, 0, "sampling.max_new_tokens must be in [1, 32]; got 0"),
        ["max_new_tokens above the limit"] = new(r => r.Sampling.MaxNewTokens = 33, 0, "sampling.max_new_tokens must be in [1, 32]; got 33"),
        ["max_new_tokens huge"] = new(r => r.Sampling.MaxNewTokens = uint.MaxValue, 0, "sampling.max_new_tokens must be in [1, 32]; got 4294967295"),
        ["top_logprobs above 20"] = new(r => r.TopLogprobs = 21, 0, "top_logprobs must be in [0, 20]; got 21"),
        ["too many stop sequences"] = new(r => r.Sampling.Stop.Add(["a", "b", "c", "d", "e"]), 0, "sampling.stop has 5 sequences; at most 4 are allowed"),
        ["stop sequence too long"] = new(r => r.Sampling.Stop.Add(["ok", "123456789"]), 0, "sampling.stop[1] is 9 characters long; at most 8 are allowed"),
        ["empty stop sequence"] = new(r => r.Sampling.Stop.Add(["", "x"]), 0, "sampling.stop[0] is empty"),
        ["stop token id beyond the vocabulary"] = new(r => r.Sampling.StopTokenIds.Add([5, 1024]), 0, "sampling.stop_token_ids: token id 1024 at index 1 is outside the vocabulary [0, 1024)"),
        ["negative stop token id"] = new(r => r.Sampling.StopTokenIds.Add(-3), 0, "sampling.stop_token_ids: token id -3 at index 0 is outside the vocabulary [0, 1024)"),
        ["prompt unset"] = new(r => r.ClearPrompt(), 0, "prompt is empty"),
        ["empty prompt text"] = new(r => r.Text = "", 0, "prompt is empty"),
        ["empty prompt token ids"] = new(r => r.TokenIds = new TokenIds(), 0, "prompt is empty"),
        ["prompt token id beyond the vocabulary"] = new(r => r.TokenIds = new TokenIds { Ids = { 10, 11, 12, 1024 } }, 0, "prompt token id 1024 at index 3 is outside the vocabulary [0, 1024)"),
        ["negative prompt token id"] = new(r => r.TokenIds = new TokenIds { Ids = { -5 } }, 0, "prompt token id -5 at index 0 is outside the vocabulary [0, 1024)"),
        ["prompt text too long"] = new(r => r.Text = new string('a', 101), 0, "prompt text is 101 characters long; at most 100 are allowed"),
        ["prompt + max_new_tokens beyond the context"] = new(
            r => { r.TokenIds = new TokenIds { Ids = { Ids(40) } }; r.Sampling.MaxNewTokens = 30; },
            0,
            "prompt (40 tokens) + max_new_tokens (30) = 70 exceeds the context length 64"),
        ["prompt alone fills the context"] = new(
            r => r.TokenIds = new TokenIds { Ids = { Ids(64) } },
            0,
            "prompt (64 tokens) leaves no room for new tokens in the context length 64"),
        ["prompt alone beyond the context"] = new(
            r => r.TokenIds = new TokenIds { Ids = { Ids(70) } },
            0,
            "prompt (70 tokens)", "context length 64"),
        ["session history + prompt + max_new_tokens beyond the context"] = new(
            r => { r.TokenIds = new TokenIds { Ids = { Ids(10) } }; r.Sampling.MaxNewTokens = 8; },
            50,
            "session history (50 tokens) + prompt (10 tokens) + max_new_tokens (8) = 68 exceeds the context length 64"),
        ["session history + prompt fill the context"] = new(
            r => r.TokenIds = new TokenIds { Ids = { Ids(4) } },
            60,
            "session history (60 tokens) + prompt (4 tokens) = 64 leaves no room for new tokens in the context length 64"),
    };

    public static TheoryData<string> BadCaseNames() => new(BadCases.Keys);

    [Theory]
    [MemberData(nameof(BadCaseNames))]
    public void Bad_input_is_invalid_argument_naming_the_field_and_its_limit(string caseName)
    {
        BadCase bad = BadCases[caseName];
        GenerateRequest request = GoodRequest();
        bad.Change(request);

        RpcException error = Reject(request, TestTokenizers.Gpt2, Limits, bad.SessionHistory);

        Assert.True(error.StatusCode == StatusCode.InvalidArgument, $"{caseName}: status {error.StatusCode}, message \"{error.Status.Detail}\"");
        foreach (string part in bad.MessageParts)
        {
            Assert.True(error.Status.Detail.Contains(part, StringComparison.Ordinal), $"{caseName}: message \"{error.Status.Detail}\" does not contain \"{part}\"");
        }
    }

    [Fact]
    public void Messages_read_as_documented_with_production_sized_limits()
    {
        var limits = new ModelLimits(ContextLength: 2048, VocabularySize: 50257, MaxNewTokensLimit: 4096);

        Assert.Equal("sampling.max_new_tokens must be in [1, 4096]; got 0",
            Reject(GoodRequest(r => r.Sampling.MaxNewTokens = 0), TestTokenizers.Gpt2, limits).Status.Detail);
        Assert.Equal("prompt token id 70000 at index 3 is outside the vocabulary [0, 50257)",
            Reject(GoodRequest(r => r.TokenIds = new TokenIds { Ids = { 1, 2, 3, 70000 } }), TestTokenizers.Gpt2, limits).Status.Detail);
        Assert.Equal("prompt (12 tokens) + max_new_tokens (2048) = 2060 exceeds the context length 2048",
            Reject(GoodRequest(r => { r.TokenIds = new TokenIds { Ids = { Ids(12) } }; r.Sampling.MaxNewTokens = 2048; }), TestTokenizers.Gpt2, limits).Status.Detail);
    }

    [Fact]
    public void Unset_fields_get_their_defaults()
    {
        var request = new GenerateRequest { Text = "Hello world" };

        GenerationRequest validated = GenerateRequestValidator.Validate(request, "tiny-gpt2", TestTokenizers.Gpt2, Limits, [], "req-1", () => 42UL);

        Assert.Equal("req-1", validated.RequestId);
        Assert.Equal("tiny-gpt2", validated.Model);
        Assert.Null(validated.SessionId);
        Assert.Equal(new SamplingSettings(Temperature: 1f, TopK: 0, TopP: 1f, RepetitionPenalty: 1f, Seed: 42UL, TopLogprobs: 0), validated.Sampling);
        Assert.Equal(16, validated.MaxNewTokens);
        Assert.Equal(TestTokenizers.Gpt2.Encode("Hello world"), validated.PromptTokens);
        Assert.Empty(validated.StopSequences);
        Assert.Empty(validated.StopTokenIds);
        Assert.False(validated.IgnoreEos);
        Assert.False(validated.Logprobs);
    }

    [Fact]
    public void Set_fields_are_kept()
    {
        GenerateRequest request = GoodRequest(r =>
        {
            r.SessionId = "s-1";
            r.Logprobs = true;
            r.TopLogprobs = 20;
            r.Sampling = new SamplingParameters
            {
                Temperature = 0f,
                TopK = 5,
                TopP = 0.9f,
                MinP = 0.05f,
                RepetitionPenalty = 1.2f,
                PresencePenalty = -0.5f,
                FrequencyPenalty = 1.25f,
                LogitBias = { [900] = -100f, [3] = 2.5f },
                Seed = 7,
                MaxNewTokens = 32,
                Stop = { "\n\n", "END", "END" },
                StopTokenIds = { 1023, 5, 5 },
                IgnoreEos = true,
            };
        });

        GenerationRequest validated = GenerateRequestValidator.Validate(request, "m", TestTokenizers.Gpt2, Limits, [], "r", () => throw new InvalidOperationException("the seed was set"));

        Assert.Equal(
            new SamplingSettings(0f, 5, 0.9f, 1.2f, 7UL, 20, MinP: 0.05f, Logprobs: true, PresencePenalty: -0.5f, FrequencyPenalty: 1.25f,
                LogitBias: new LogitBias([3, 900], [2.5f, -100f])),
            validated.Sampling);
        Assert.Equal(32, validated.MaxNewTokens);
        Assert.Equal("s-1", validated.SessionId);
        Assert.Equal(["\n\n", "END"], validated.StopSequences);
        Assert.Equal([1023, 5], validated.StopTokenIds);
        Assert.True(validated.IgnoreEos);
        Assert.True(validated.Logprobs);
    }

    [Fact]
    public void Json_mode_carries_the_models_eos_tokens()
    {
        GenerationRequest validated = Validate(GoodRequest(r => r.Sampling.ResponseFormat = ResponseFormat.JsonObject), TestTokenizers.Gpt2,
            limits: Limits with { EosTokenIds = [1023, 7] });

        Assert.Equal(new OutputFormat([1023, 7]), validated.Sampling.Format);
        Assert.Null(Validate(GoodRequest(), TestTokenizers.Gpt2, limits: Limits with { EosTokenIds = [1023] }).Sampling.Format);
    }

    [Fact]
    public void A_json_schema_is_compiled_and_carried_with_the_models_eos_tokens()
    {
        const string schema = """{"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}""";
        GenerationRequest validated = Validate(GoodRequest(r => { r.Sampling.ResponseFormat = ResponseFormat.JsonSchema; r.Sampling.JsonSchema = schema; }),
            TestTokenizers.Gpt2, limits: Limits with { EosTokenIds = [1023] });

        Assert.Equal(new OutputFormat([1023], schema), validated.Sampling.Format);
        Assert.NotEqual(new OutputFormat([1023]), validated.Sampling.Format);
    }

    [Theory]
    [InlineData("", "sampling.json_schema is required with response_format JSON_SCHEMA")]
    [InlineData("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"array\", \"uniqueItems\": true}}}", "sampling.json_schema at /properties/n/uniqueItems: the keyword \"uniqueItems\" is not supported")]
    [InlineData("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 0}}}", "sampling.json_schema at /properties/n: no integer satisfies minimum 1 and maximum 0")]
    [InlineData("{\"type\": ", "sampling.json_schema at its root: the schema is not valid JSON")]
    [InlineData("{\"$ref\": \"#/$defs/gone\"}", "sampling.json_schema at /$ref: the reference \"#/$defs/gone\" points at nothing")]
    [InlineData("regex:", "sampling.regex is required with response_format REGEX")]
    [InlineData("regex:(a", "sampling.regex at its root: the pattern \"(a\" at character 0: unbalanced '('")]
    public void A_json_schema_or_regex_that_cannot_be_held_is_refused_naming_where(string text, string message)
    {
        var regex = text.StartsWith("regex:", StringComparison.Ordinal);
        var error = Assert.Throws<RpcException>(() => Validate(
            GoodRequest(r =>
            {
                r.Sampling.ResponseFormat = regex ? ResponseFormat.Regex : ResponseFormat.JsonSchema;
                if (regex) r.Sampling.Regex = text["regex:".Length..]; else r.Sampling.JsonSchema = text;
            }),
            TestTokenizers.Gpt2, limits: Limits with { EosTokenIds = [1023] }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.True(error.Status.Detail.StartsWith(message, StringComparison.Ordinal), $"got: {error.Status.Detail}");
    }

    [Fact]
    public void Top_logprobs_alone_turns_logprobs_on()
    {
        GenerationRequest validated = Validate(GoodRequest(r => r.TopLogprobs = 3), TestTokenizers.Gpt2);

        Assert.True(validated.Logprobs && validated.Sampling.TopLogprobs == 3, $"logprobs {validated.Logprobs}, top {validated.Sampling.TopLogprobs}");
    }

    [Fact]
    public void Default_max_new_tokens_is_capped_by_what_the_context_leaves()
    {
        GenerationRequest oneShot = Validate(GoodRequest(r => r.TokenIds = new TokenIds { Ids = { Ids(60) } }), TestTokenizers.Gpt2);
        GenerationRequest sessionTurn = Validate(GoodRequest(r => r.TokenIds = new TokenIds { Ids = { Ids(10) } }), TestTokenizers.Gpt2, sessionHistory: 51);
        GenerationRequest roomy = Validate(GoodRequest(), TestTokenizers.Gpt2, limits: Limits with { DefaultMaxNewTokens = 1000 });

        Assert.Equal(4, oneShot.MaxNewTokens);
        Assert.Equal(3, sessionTurn.MaxNewTokens);
        Assert.True(roomy.MaxNewTokens == Limits.MaxNewTokensLimit, $"a default above the limit should be capped at {Limits.MaxNewTokensLimit}, got {roomy.MaxNewTokens}");
    }

    [Fact]
    public void Limits_themselves_are_allowed()
    {
        GenerationRequest validated = Validate(GoodRequest(r =>
        {
            r.TokenIds = new TokenIds { Ids = { Ids(32) } };
            r.Sampling.MaxNewTokens = 32; // 32 + 32 = the context length, exactly
            r.Sampling.Temperature = 0f;
            r.Sampling.TopP = 1f;
            r.Sampling.MinP = 1f;
            r.Sampling.PresencePenalty = -2f;
            r.Sampling.FrequencyPenalty = 2f;
            for (var id = 0; id < GenerateRequestValidator.MaxLogitBiasEntries; id++)
            {
                r.Sampling.LogitBias[id] = id % 2 == 0 ? -100f : 100f; // ids 0 to 1023: the whole vocabulary, each bias at a limit
            }
            r.Sampling.Stop.Add(["12345678", "a", "b", "c"]);
            r.Sampling.StopTokenIds.Add([0, 1023]);
            r.TopLogprobs = 20;
        }), TestTokenizers.Gpt2);
        GenerationRequest longText = Validate(GoodRequest(r => r.Text = new string('a', 100)), TestTokenizers.Gpt2, limits: Limits with { ContextLength = 1000 });

        Assert.Equal(32, validated.MaxNewTokens);
        Assert.Equal(1f, validated.Sampling.MinP);
        Assert.Equal((-2f, 2f, 1024), (validated.Sampling.PresencePenalty, validated.Sampling.FrequencyPenalty, validated.Sampling.LogitBias!.TokenIds.Length));
        Assert.Equal(TestTokenizers.Gpt2.Encode(new string('a', 100)), longText.PromptTokens);
    }

    [Fact]
    public void Seed_is_drawn_when_unset()
    {
        ulong first = Validate(GoodRequest(), TestTokenizers.Gpt2).Sampling.Seed;
        ulong second = Validate(GoodRequest(), TestTokenizers.Gpt2).Sampling.Seed;

        Assert.True(first != second, $"two requests without a seed both got {first}");
    }

    [Fact]
    public void Fresh_text_prompt_gets_BOS_when_the_tokenizer_adds_it()
    {
        CheckpointTokenizer tokenizer = TestTokenizers.SentencePiece;

        GenerationRequest validated = Validate(GoodRequest(r => r.Text = "the weather"), tokenizer);

        Assert.Equal(tokenizer.BosTokenId, validated.PromptTokens[0]);
        Assert.Equal(tokenizer.Encode("the weather"), validated.PromptTokens);
    }

    [Fact]
    public void BOS_is_left_out_when_asked_or_when_continuing_a_session()
    {
        CheckpointTokenizer tokenizer = TestTokenizers.SentencePiece;
        IReadOnlyList<int> bare = tokenizer.Encode("the weather", addBos: false);

        GenerationRequest notAsked = Validate(GoodRequest(r => { r.Text = "the weather"; r.AddSpecialTokens = false; }), tokenizer);
        GenerationRequest laterTurn = Validate(GoodRequest(r => r.Text = "the weather"), tokenizer, sessionHistory: 5);
        GenerationRequest askedExplicitly = Validate(GoodRequest(r => { r.Text = "the weather"; r.AddSpecialTokens = true; }), tokenizer);

        Assert.Equal(bare, notAsked.PromptTokens);
        Assert.Equal(bare, laterTurn.PromptTokens);
        Assert.Equal([tokenizer.BosTokenId!.Value, .. bare], askedExplicitly.PromptTokens);
    }

    [Fact]
    public void Tokenizer_that_does_not_add_BOS_gets_none_even_when_asked()
    {
        CheckpointTokenizer tokenizer = TestTokenizers.Gpt2; // defines BOS (<|endoftext|>) but does not add it

        GenerationRequest validated = Validate(GoodRequest(r => { r.Text = "Hello"; r.AddSpecialTokens = true; }), tokenizer);

        Assert.Equal(tokenizer.Encode("Hello", addBos: false), validated.PromptTokens);
    }

    [Fact]
    public void Token_id_prompt_gets_BOS_once()
    {
        CheckpointTokenizer tokenizer = TestTokenizers.SentencePiece;
        int bos = tokenizer.BosTokenId!.Value;

        GenerationRequest without = Validate(GoodRequest(r => r.TokenIds = new TokenIds { Ids = { 100, 101 } }), tokenizer);
        GenerationRequest with = Validate(GoodRequest(r => r.TokenIds = new TokenIds { Ids = { bos, 100, 101 } }), tokenizer);
        GenerationRequest sessionTurn = Validate(GoodRequest(r => r.TokenIds = new TokenIds { Ids = { 100, 101 } }), tokenizer, sessionHistory: 3);

        Assert.Equal([bos, 100, 101], without.PromptTokens);
        Assert.Equal([bos, 100, 101], with.PromptTokens);
        Assert.Equal([100, 101], sessionTurn.PromptTokens);
    }

    [Fact]
    public void BOS_counts_against_the_context()
    {
        // 30 ids + BOS = 31, + 33 = 64 fits the context; the same with 34 would not.
        var limits = Limits with { MaxNewTokensLimit = 64 };
        GenerateRequest fits = GoodRequest(r => { r.TokenIds = new TokenIds { Ids = { Ids(30) } }; r.Sampling.MaxNewTokens = 33; });
        GenerateRequest overflows = GoodRequest(r => { r.TokenIds = new TokenIds { Ids = { Ids(30) } }; r.Sampling.MaxNewTokens = 34; });

        Assert.Equal(31, Validate(fits, TestTokenizers.SentencePiece, limits: limits).PromptTokens.Count);
        Assert.Equal("prompt (31 tokens) + max_new_tokens (34) = 65 exceeds the context length 64",
            Reject(overflows, TestTokenizers.SentencePiece, limits).Status.Detail);
    }

    [Fact]
    public void Korean_text_prompt_is_tokenized_by_the_model_tokenizer()
    {
        foreach (CheckpointTokenizer tokenizer in new[] { TestTokenizers.Gpt2, TestTokenizers.SentencePiece })
        {
            GenerationRequest validated = Validate(GoodRequest(r => r.Text = "오늘 날씨 어때?"), tokenizer, limits: Limits with { ContextLength = 1000 });

            Assert.Equal("오늘 날씨 어때?", tokenizer.Decode(validated.PromptTokens));
        }
    }

    private static GenerateRequest GoodRequest(Action<GenerateRequest>? change = null)
    {
        var request = new GenerateRequest { Text = "Hello", Sampling = new SamplingParameters() };
        change?.Invoke(request);
        return request;
    }

    private static GenerationRequest Validate(GenerateRequest request, CheckpointTokenizer tokenizer, int sessionHistory = 0, ModelLimits? limits = null) =>
        GenerateRequestValidator.Validate(request, "model", tokenizer, limits ?? Limits, new int[sessionHistory], "request");

    private static RpcException Reject(GenerateRequest request, CheckpointTokenizer tokenizer, ModelLimits limits, int sessionHistory = 0)
    {
        try
        {
            GenerationRequest accepted = GenerateRequestValidator.Validate(request, "model", tokenizer, limits, new int[sessionHistory], "request");
            throw new Xunit.Sdk.XunitException($"expected INVALID_ARGUMENT, but the request was accepted as {accepted}");
        }
        catch (RpcException e)
        {
            return e;
        }
    }
}
