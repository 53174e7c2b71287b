using System.CommandLine;

namespace Cluster.LoadTest;

/// <summary>The options every target shares: the requests' shape and the concurrency levels.</summary>
internal sealed class LoadOptions
{
    public Option<int[]> Concurrency { get; } = new("--concurrency", "-c") { Description = "Concurrent streams; one level per value", DefaultValueFactory = _ => [1, 8, 32], AllowMultipleArgumentsPerToken = true };
    public Option<int> Requests { get; } = new("--requests", "-r") { Description = "Measured requests per level (at least 2 per stream)", DefaultValueFactory = _ => 32 };
    public Option<int> PromptTokens { get; } = new("--prompt-tokens") { Description = "Tokens per prompt", DefaultValueFactory = _ => 128 };
    public Option<int> MaxNewTokens { get; } = new("--max-new-tokens", "-n") { Description = "Tokens generated per request (EOS ignored)", DefaultValueFactory = _ => 64 };
    public Option<int> Warmup { get; } = new("--warmup") { Description = "Unmeasured requests before each level", DefaultValueFactory = _ => 2 };
    public Option<ulong> Seed { get; } = new("--seed") { Description = "Seed of the prompt tokens", DefaultValueFactory = _ => 1 };
    public Option<string?> Json { get; } = new("--json") { Description = "Also write the results as JSON to this file" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Concurrency, Requests, PromptTokens, MaxNewTokens, Warmup, Seed, Json })
        {
            command.Options.Add(option);
        }
    }

    public LoadSettings Read(ParseResult parse, int vocabularySize) => new(
        parse.GetValue(Concurrency)!, parse.GetValue(Requests), parse.GetValue(PromptTokens), parse.GetValue(MaxNewTokens),
        parse.GetValue(Warmup), vocabularySize, parse.GetValue(Seed));
}
