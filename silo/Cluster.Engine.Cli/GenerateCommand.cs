using System.CommandLine;
using System.Diagnostics;
using Cluster.Engine.Configuration;
using Cluster.Engine.Generation;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using Cluster.Engine.Sampling.Json;
using Cluster.JsonSchemas;
using Cluster.Tokenizers;
using static System.FormattableString;

namespace Cluster.Engine.Cli;

/// <summary>
/// <c>generate DIR PROMPT</c> (or <c>generate DIR --token-ids 1,2,3</c>): shows the prompt's tokens, streams the
/// continuation, then lists each generated token (id, piece, log-probability and, with --top-logprobs, the
/// alternatives), the counts and the timings; with --json, one JSON document instead (<see cref="GenerationReport"/>).
/// Numbers are always written in the invariant culture.
/// </summary>
internal static class GenerateCommand
{
    /// <summary>What the command line asks for.</summary>
    /// <param name="JsonObject">JSON mode: hold the output to one JSON object, then EOS.</param>
    /// <param name="JsonSchemaFile">Structured outputs: a file holding a JSON Schema the output must satisfy, then EOS.</param>
    /// <param name="Regex">Guided decoding: the whole output is one match of this regular expression, then EOS.</param>
    internal sealed record Settings(
        string Checkpoint, string? PromptText, string? TokenIds, bool NoBos, bool Json, SamplingParameters Sampling, StopConditions Stop, EngineOptions Engine,
        bool JsonObject = false, string? JsonSchemaFile = null, string? Regex = null);

    public static Command Create()
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "Hugging Face checkpoint directory" };
        var prompt = new Argument<string?>("prompt") { Description = "Prompt text (or give --token-ids)", Arity = ArgumentArity.ZeroOrOne };
        var tokenIds = new Option<string?>("--token-ids") { Description = "The prompt as comma-separated token ids instead of text, e.g. 1,2,3 (used as given: no BOS added)" };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add the BOS token to the prompt text, even where the checkpoint does" };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Keep generating past the model's end-of-sequence tokens (up to --max-new-tokens)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON document (prompt and generated tokens, text, finish reason, usage, timings) instead of the report" };
        var maxNewTokens = new Option<int>("--max-new-tokens", "-n") { Description = "Most tokens to generate", DefaultValueFactory = _ => 32 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens (0 = off)" };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass (1 = off)", DefaultValueFactory = _ => 1f };
        var minP = new Option<float>("--min-p") { Description = "Drop tokens below this fraction of the top token's probability (0 = off)" };
        var repetitionPenalty = new Option<float>("--repetition-penalty") { Description = "1 = off", DefaultValueFactory = _ => 1f };
        var presencePenalty = new Option<float>("--presence-penalty") { Description = "Lower every already generated token's logit by this, once, in [-2, 2] (0 = off)" };
        var frequencyPenalty = new Option<float>("--frequency-penalty") { Description = "Lower every already generated token's logit by this per time it was, in [-2, 2] (0 = off)" };
        var jsonObject = new Option<bool>("--json-object") { Description = "JSON mode: hold the output to one JSON object, ended by the model's EOS (not with --ignore-eos)" };
        var jsonSchema = new Option<string?>("--json-schema") { Description = "Structured outputs: a file holding a JSON Schema the output must satisfy, ended by the model's EOS (not with --ignore-eos)" };
        var regex = new Option<string?>("--regex") { Description = "Guided decoding: the whole output is one match of this regular expression, ended by the model's EOS (not with --ignore-eos)" };
        var seed = new Option<ulong?>("--seed") { Description = "Seed for reproducible sampling" };
        var topLogprobs = new Option<int>("--top-logprobs") { Description = "Alternatives to show per generated token (0-20)" };
        var device = new Option<string>("--device") { Description = "cpu, cuda, cuda:N or auto", DefaultValueFactory = _ => "auto" };
        var dtype = new Option<string>("--dtype") { Description = "auto, float32, bfloat16 or float16", DefaultValueFactory = _ => "auto" };
        var weightDType = new Option<string>("--weight-dtype") { Description = "Weight matrices: auto (as --dtype), float32, bfloat16 or int8 (with float32 activations)", DefaultValueFactory = _ => "auto" };
        var command = new Command("generate", "Generate a continuation and show tokens, probabilities and timings")
        {
            checkpoint, prompt, tokenIds, noBos, ignoreEos, json, maxNewTokens, temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, jsonObject, jsonSchema, regex, seed, topLogprobs, device, dtype, weightDType,
        };
        command.SetAction(parse =>
        {
            var sampling = new SamplingParameters
            {
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                MinP = parse.GetValue(minP),
                RepetitionPenalty = parse.GetValue(repetitionPenalty),
                PresencePenalty = parse.GetValue(presencePenalty),
                FrequencyPenalty = parse.GetValue(frequencyPenalty),
                Seed = parse.GetValue(seed),
                TopLogprobs = parse.GetValue(topLogprobs),
            };
            var settings = new Settings(
                parse.GetValue(checkpoint)!, parse.GetValue(prompt), parse.GetValue(tokenIds), parse.GetValue(noBos), parse.GetValue(json),
                sampling, new StopConditions { MaxNewTokens = parse.GetValue(maxNewTokens), IgnoreEos = parse.GetValue(ignoreEos) }, new EngineOptions { Device = parse.GetValue(device)!, DType = parse.GetValue(dtype)!, WeightDType = parse.GetValue(weightDType)! },
                parse.GetValue(jsonObject), parse.GetValue(jsonSchema), parse.GetValue(regex));
            return Run(settings, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
        });
        return command;
    }

    /// <summary>
    /// At most one of --json-object, --json-schema and --regex, and none with --ignore-eos (the model's EOS ends the
    /// output they hold); an <see cref="ArgumentException"/> naming the options otherwise.
    /// </summary>
    private static void CheckOutputFormat(Settings settings)
    {
        string[] formats = [.. new[] { (settings.JsonObject, "--json-object"), (settings.JsonSchemaFile is not null, "--json-schema"), (settings.Regex is not null, "--regex") }
            .Where(option => option.Item1).Select(option => option.Item2)];
        if (formats.Length > 1)
        {
            throw new ArgumentException($"{string.Join(", ", formats)}: give one output format.");
        }
        if (formats.Length == 1 && settings.Stop.IgnoreEos)
        {
            throw new ArgumentException($"{formats[0]} ends the output with the model's EOS; it cannot be combined with --ignore-eos.");
        }
    }

    /// <summary>The pattern, compiled; an <see cref="ArgumentException"/> naming the option when it cannot be used.</summary>
    private static TextAutomaton PatternFrom(string pattern)
    {
        try
        {
            return TextAutomaton.FromPattern(pattern);
        }
        catch (JsonSchemaException e)
        {
            throw new ArgumentException($"--regex: {e.Problem}");
        }
    }

    /// <summary>The schema in <paramref name="file"/>, compiled; an <see cref="ArgumentException"/> naming the option when it cannot be used.</summary>
    private static TextAutomaton SchemaFrom(string file)
    {
        if (!File.Exists(file))
        {
            throw new ArgumentException($"--json-schema: no file {file}.");
        }
        try
        {
            return TextAutomaton.FromJsonSchema(File.ReadAllText(file));
        }
        catch (JsonSchemaException e)
        {
            throw new ArgumentException($"--json-schema {file}: {e.Message}");
        }
    }

    /// <returns>0, or 2 for bad input (the message, naming the option, goes to <paramref name="error"/>).</returns>
    public static int Run(Settings settings, TextWriter output, TextWriter error)
    {
        IReadOnlyList<int>? givenIds;
        TextAutomaton? schema = null; // a JSON Schema's or a pattern's automaton
        try
        {
            settings.Sampling.Validate();
            settings.Stop.Validate();
            CheckOutputFormat(settings);
            if (settings.JsonSchemaFile is { } file)
            {
                schema = SchemaFrom(file);
            }
            if (settings.Regex is { } pattern)
            {
                schema = PatternFrom(pattern);
            }
            givenIds = PromptIdsFromCommandLine(settings);
        }
        catch (ArgumentException e)
        {
            error.WriteLine(e.Message);
            return 2;
        }
        var loadClock = Stopwatch.StartNew();
        var tokenizer = CheckpointTokenizer.Load(settings.Checkpoint);
        using var model = ModelShard.Load(settings.Checkpoint, options: settings.Engine);
        var loadTime = loadClock.Elapsed;
        var promptIds = givenIds ?? tokenizer.Encode(settings.PromptText!, settings.NoBos ? false : null);
        if (!settings.Json)
        {
            output.WriteLine(Invariant($"Model: {model.Config.ModelType}, {model.Config.LayerCount} layers, vocabulary {model.Config.VocabularySize}, context {model.Config.ContextLength}, {model.Placement.Device.type}/{model.Placement.DType}, loaded in {loadTime.TotalMilliseconds:F0} ms"));
            TokenTable.PrintTokenization(tokenizer, promptIds, output);
        }
        var eos = tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds : model.Config.EosTokenIds;

        var generator = new SequenceGenerator(model);
        var detokenizer = tokenizer.CreateStreamingDetokenizer();
        var steps = new List<GeneratedToken>();
        var text = new System.Text.StringBuilder();
        var clock = Stopwatch.StartNew();
        if (!settings.Json)
        {
            output.Write("Output: ");
        }
        IEnumerable<GeneratedToken> tokens;
        try
        {
            IOutputConstraint? constraint = (settings.JsonObject || schema is not null)
                ? new JsonTokenTable(model.Config.VocabularySize, tokenizer.ContinuationBytes) switch
                {
                    var table when schema is not null => new TextAutomatonConstraint(new(table, new TextAutomatonGrammar(schema)), eos),
                    var table => new JsonObjectConstraint(table, eos),
                }
                : null;
            tokens = generator.Generate(promptIds, settings.Sampling, settings.Stop, eos, constraint: constraint);
        }
        catch (ArgumentException e)
        {
            output.WriteLine();
            error.WriteLine(e.Message); // the prompt plus max_new_tokens beyond the context length
            return 2;
        }
        foreach (var token in tokens)
        {
            steps.Add(token);
            var piece = detokenizer.Push(token.TokenId);
            text.Append(piece);
            if (!settings.Json)
            {
                output.Write(piece);
                output.Flush();
            }
        }
        var rest = detokenizer.Flush();
        text.Append(rest);
        var timings = Timings(loadTime, generator.LastPrefillTime, clock.Elapsed, steps.Count);

        if (settings.Json)
        {
            output.WriteLine(Report(model, tokenizer, promptIds, steps, text.ToString(), timings).ToJson());
            return 0;
        }
        output.WriteLine(rest);
        output.WriteLine($"Generated: {steps.Count} tokens, finish reason {FinishName(steps[^1].Finish)}");
        foreach (var (step, i) in steps.Select((s, i) => (s, i)))
        {
            var line = Invariant($"  [{i}] {step.TokenId}:{TokenTable.Piece(tokenizer, step.TokenId)} logprob {step.Logprob:F3}");
            if (step.TopAlternatives.Count > 0)
            {
                line += "  top: " + string.Join(", ", step.TopAlternatives.Select(a => Invariant($"{a.TokenId}:{TokenTable.Piece(tokenizer, a.TokenId)} {a.Logprob:F3}")));
            }
            output.WriteLine(line);
        }
        output.WriteLine(Invariant($"Usage: prompt {promptIds.Count} tokens, generated {steps.Count} tokens"));
        output.WriteLine(Invariant($"Timings: time to first token {timings.TimeToFirstTokenMs:F1} ms, total {timings.TotalMs:F1} ms, decode {timings.DecodeTokensPerSecond:F1} tokens/s"));
        return 0;
    }

    /// <summary>The ids --token-ids gives (checked against the checkpoint's config.json, before any weight loads); null for a text prompt.</summary>
    private static IReadOnlyList<int>? PromptIdsFromCommandLine(Settings settings)
    {
        if (settings.TokenIds is null)
        {
            return settings.PromptText is null
                ? throw new ArgumentException("generate needs a prompt: the text as the second argument, or --token-ids 1,2,3.")
                : null;
        }
        if (settings.PromptText is not null)
        {
            throw new ArgumentException($"Give the prompt as text or as --token-ids, not both (got the text \"{settings.PromptText}\" and --token-ids {settings.TokenIds}).");
        }
        if (settings.NoBos)
        {
            throw new ArgumentException("--no-bos applies to a text prompt; --token-ids are used exactly as given (include the BOS id yourself if you want it).");
        }
        return PromptTokenIds.Parse(settings.TokenIds, ModelConfigReader.ReadFromDirectory(settings.Checkpoint).VocabularySize);
    }

    private static string FinishName(FinishReason finish) => finish.ToString().ToLowerInvariant();

    private static ReportTimings Timings(TimeSpan load, TimeSpan prefill, TimeSpan total, int generated)
    {
        var decode = total - prefill;
        var decodeRate = generated > 1 && decode > TimeSpan.Zero ? (generated - 1) / decode.TotalSeconds : 0;
        return new ReportTimings(load.TotalMilliseconds, prefill.TotalMilliseconds, total.TotalMilliseconds, decodeRate);
    }

    private static GenerationReport Report(
        ModelShard model, CheckpointTokenizer tokenizer, IReadOnlyList<int> promptIds, List<GeneratedToken> steps, string text, ReportTimings timings)
    {
        string? Piece(int id) => tokenizer.Knows(id) ? tokenizer.TokenPiece(id) : null;
        var config = model.Config;
        return new GenerationReport(
            new ReportModel(config.ModelType, config.LayerCount, config.VocabularySize, config.ContextLength, model.Placement.Device.ToString(), model.Placement.DType.ToString()),
            [.. promptIds.Select(id => new ReportToken(id, Piece(id)))],
            [.. steps.Select(s => new ReportGeneratedToken(s.TokenId, Piece(s.TokenId), s.Logprob, [.. s.TopAlternatives.Select(a => new ReportAlternative(a.TokenId, Piece(a.TokenId), a.Logprob))]))],
            text,
            FinishName(steps[^1].Finish),
            new ReportUsage(promptIds.Count, steps.Count),
            timings);
    }
}
