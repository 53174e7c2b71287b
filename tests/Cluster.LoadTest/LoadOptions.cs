using System.CommandLine;
using System.CommandLine.Parsing;

namespace Cluster.LoadTest;

/// <summary>The options every target shares: the levels of the sweep, their bounds, the requests' shape, objectives and outputs.</summary>
public sealed class LoadOptions
{
    public Option<int[]> Concurrency { get; } = new("--concurrency", "-c") { Description = "Concurrent streams (closed loop); one level per value", DefaultValueFactory = _ => [1, 8, 32], AllowMultipleArgumentsPerToken = true };
    public Option<double[]> Rate { get; } = new("--rate") { Description = "Requests per second with Poisson arrivals (open loop), instead of --concurrency; one level per value", AllowMultipleArgumentsPerToken = true };
    public Option<int?> Requests { get; } = new("--requests", "-r") { Description = "Measured requests per level (at a concurrency, at least 2 per stream); default 32 unless --duration is given" };
    public Option<double?> Duration { get; } = new("--duration") { Description = "Seconds per level after which no more requests are sent (those in flight finish)" };
    public Option<int> PromptTokens { get; } = new("--prompt-tokens") { Description = "Tokens per prompt", DefaultValueFactory = _ => 128 };
    public Option<int[]> PromptTokensRange { get; } = new("--prompt-tokens-range") { Description = "Tokens per prompt drawn uniformly from [A, B]", Arity = new ArgumentArity(2, 2), AllowMultipleArgumentsPerToken = true };
    public Option<int?> SharedPrefixCount { get; } = new("--shared-prefixes") { Description = "Start every prompt with one of this many shared prefixes (system prompts), then --prompt-tokens of its own" };
    public Option<int?> SharedPrefixTokens { get; } = new("--shared-prefix-tokens") { Description = "Tokens per shared prefix (with --shared-prefixes)" };
    public Option<int> ConversationTurns { get; } = new("--conversation-turns") { Description = "Requests come as conversations of this many turns, each resending the whole conversation so far (earlier prompts and answers) plus a new question", DefaultValueFactory = _ => 1 };
    public Option<string?> PromptsFile { get; } = new("--prompts-file") { Description = "Send prompts as text, drawn from this file (one prompt per line)" };
    public Option<int> MaxNewTokens { get; } = new("--max-new-tokens", "-n") { Description = "Tokens generated per request (EOS ignored)", DefaultValueFactory = _ => 64 };
    public Option<int[]> MaxNewTokensRange { get; } = new("--max-new-tokens-range") { Description = "Tokens generated per request drawn uniformly from [A, B]", Arity = new ArgumentArity(2, 2), AllowMultipleArgumentsPerToken = true };
    public Option<int> Warmup { get; } = new("--warmup") { Description = "Unmeasured requests before each level", DefaultValueFactory = _ => 2 };
    public Option<ulong> Seed { get; } = new("--seed") { Description = "Seed of the prompts, lengths and arrival times", DefaultValueFactory = _ => 1 };
    public Option<double?> SloTtft { get; } = new("--slo-ttft-ms") { Description = "Goodput objective: time to first token at most this many ms" };
    public Option<double?> SloTpot { get; } = new("--slo-tpot-ms") { Description = "Goodput objective: time per output token at most this many ms" };
    public Option<double?> SloE2e { get; } = new("--slo-e2e-ms") { Description = "Goodput objective: end-to-end latency at most this many ms" };
    public Option<int> Slowest { get; } = new("--slowest") { Description = "Slowest requests listed per level, with their trace ids", DefaultValueFactory = _ => 5 };
    public Option<string?> Json { get; } = new("--json") { Description = "Also write the results as JSON to this file" };
    public Option<string?> Chart { get; } = new("--chart") { Description = "Also draw latency (TTFT, TPOT p50/p99) against output tokens/s over the levels, as a PNG image" };

    private IEnumerable<Option> All => [Concurrency, Rate, Requests, Duration, PromptTokens, PromptTokensRange, SharedPrefixCount, SharedPrefixTokens, ConversationTurns, PromptsFile, MaxNewTokens,
        MaxNewTokensRange, Warmup, Seed, SloTtft, SloTpot, SloE2e, Slowest, Json, Chart];

    public void AddTo(Command command)
    {
        foreach (var option in All)
        {
            command.Options.Add(option);
        }
        command.Validators.Add(Validate);
    }

    private void Validate(CommandResult result)
    {
        if (result.Children.OfType<OptionResult>().Any(option => option.Tokens.Count > option.Option.Arity.MaximumNumberOfValues))
        {
            return; // an option given more values than it takes (e.g. given twice) is the parser's error; reading it would throw
        }
        if (result.GetValue(Rate) is { Length: > 0 } rates)
        {
            if (result.GetResult(Concurrency) is { Implicit: false })
            {
                result.AddError("Give either --concurrency or --rate, not both.");
            }
            if (rates.Any(r => !(r > 0) || !double.IsFinite(r)))
            {
                result.AddError($"--rate must be positive requests per second (got {string.Join(", ", rates)}).");
            }
        }
        if (result.GetValue(Concurrency) is { } levels && levels.Any(c => c < 1))
        {
            result.AddError($"--concurrency must be at least 1 (got {string.Join(", ", levels)}).");
        }
        if (result.GetValue(Requests) is < 1)
        {
            result.AddError("--requests must be at least 1.");
        }
        if (result.GetValue(Duration) is { } duration && !(duration > 0))
        {
            result.AddError("--duration must be positive seconds.");
        }
        foreach (var tokens in new[] { PromptTokens, MaxNewTokens })
        {
            // Defaults are not applied yet while validating: check only what was given.
            if (result.GetResult(tokens) is { Implicit: false } && result.GetValue(tokens) < 1)
            {
                result.AddError($"{tokens.Name} must be at least 1.");
            }
        }
        foreach (var range in new[] { PromptTokensRange, MaxNewTokensRange })
        {
            if (result.GetValue(range) is [var min, var max] && (min < 1 || max < min))
            {
                result.AddError($"{range.Name} takes A B with 1 <= A <= B (got {min} {max}).");
            }
        }
        if (result.GetValue(PromptsFile) is { } file)
        {
            if (!File.Exists(file))
            {
                result.AddError($"--prompts-file '{file}' does not exist.");
            }
            if (result.GetResult(PromptTokensRange) is { Implicit: false } || result.GetResult(PromptTokens) is { Implicit: false })
            {
                result.AddError("--prompts-file sets the prompts: leave out --prompt-tokens and --prompt-tokens-range.");
            }
        }
        var (prefixes, prefixTokens) = (result.GetValue(SharedPrefixCount), result.GetValue(SharedPrefixTokens));
        if (prefixes is null != prefixTokens is null)
        {
            result.AddError("--shared-prefixes and --shared-prefix-tokens go together: how many prefixes, and how long each is.");
        }
        if (prefixes is < 1 || prefixTokens is < 1)
        {
            result.AddError($"--shared-prefixes and --shared-prefix-tokens must be at least 1 (got {prefixes} and {prefixTokens}).");
        }
        if (prefixes is not null && result.GetValue(PromptsFile) is not null)
        {
            result.AddError("--shared-prefixes builds token-id prompts: leave out --prompts-file.");
        }
        if (result.GetResult(ConversationTurns) is { Implicit: false } && result.GetValue(ConversationTurns) is var turns && turns < 1)
        {
            result.AddError($"--conversation-turns must be at least 1 (got {turns}).");
        }
        if (result.GetValue(ConversationTurns) > 1 && result.GetValue(PromptsFile) is not null)
        {
            result.AddError("--conversation-turns builds token-id prompts: leave out --prompts-file.");
        }
        foreach (var slo in new[] { SloTtft, SloTpot, SloE2e })
        {
            if (result.GetValue(slo) is { } ms && !(ms > 0))
            {
                result.AddError($"{slo.Name} must be positive milliseconds.");
            }
        }
    }

    public LoadSettings Read(ParseResult parse, int vocabularySize)
    {
        IReadOnlyList<LoadLevel> levels = parse.GetValue(Rate) is { Length: > 0 } rates
            ? rates.Select(LoadLevel.AtRate).ToList()
            : parse.GetValue(Concurrency)!.Select(LoadLevel.AtConcurrency).ToList();
        var duration = parse.GetValue(Duration);
        return new LoadSettings(levels,
            parse.GetValue(Requests) ?? (duration is null ? 32 : null),
            duration,
            Range(parse.GetValue(PromptTokensRange), parse.GetValue(PromptTokens)),
            Range(parse.GetValue(MaxNewTokensRange), parse.GetValue(MaxNewTokens)),
            parse.GetValue(Warmup), vocabularySize, parse.GetValue(Seed),
            parse.GetValue(PromptsFile) is { } file ? Workload.ReadPrompts(file) : null,
            new ServiceLevelObjectives(parse.GetValue(SloTtft), parse.GetValue(SloTpot), parse.GetValue(SloE2e)),
            parse.GetValue(Slowest),
            parse.GetValue(SharedPrefixCount) is { } count && parse.GetValue(SharedPrefixTokens) is { } tokens ? new SharedPrefixes(count, tokens) : null,
            parse.GetValue(ConversationTurns));
    }

    /// <summary>Writes the JSON and the chart, where asked for.</summary>
    public void WriteOutputs(ParseResult parse, IReadOnlyList<LevelResult> results)
    {
        if (parse.GetValue(Json) is { } json)
        {
            LoadReport.WriteJson(json, results);
        }
        if (parse.GetValue(Chart) is { } chart)
        {
            LoadChart.WritePng(chart, results);
        }
    }

    private static LengthRange Range(int[]? range, int fixedTokens) => range is [var min, var max] ? new LengthRange(min, max) : LengthRange.Fixed(fixedTokens);

    /// <summary>The engine baseline batches fixed-length requests by count: rate, duration, text prompts and ranges do not apply.</summary>
    public void RejectForEngine(Command command) => command.Validators.Add(result =>
    {
        foreach (var option in new Option[] { Rate, Duration, PromptsFile, PromptTokensRange, MaxNewTokensRange })
        {
            if (result.GetResult(option) is { Implicit: false })
            {
                result.AddError($"{option.Name} applies to the gateway only: the engine baseline decodes each level's requests as fixed-length batches by count.");
            }
        }
    });
}
