using System.CommandLine;
using System.Diagnostics;
using Cluster.Engine.Configuration;
using Cluster.Engine.Generation;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using Cluster.Tokenizers;

namespace Cluster.Engine.Cli;

/// <summary>
/// <c>generate DIR PROMPT</c>: shows the prompt's tokens, streams the continuation, then lists each generated
/// token (id, piece, log-probability and, with --top-logprobs, the alternatives), the counts and the timings.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "Hugging Face checkpoint directory" };
        var prompt = new Argument<string>("prompt") { Description = "Prompt text" };
        var maxNewTokens = new Option<int>("--max-new-tokens", "-n") { Description = "Most tokens to generate", DefaultValueFactory = _ => 32 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens (0 = off)" };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass (1 = off)", DefaultValueFactory = _ => 1f };
        var minP = new Option<float>("--min-p") { Description = "Drop tokens below this fraction of the top token's probability (0 = off)" };
        var repetitionPenalty = new Option<float>("--repetition-penalty") { Description = "1 = off", DefaultValueFactory = _ => 1f };
        var seed = new Option<ulong?>("--seed") { Description = "Seed for reproducible sampling" };
        var topLogprobs = new Option<int>("--top-logprobs") { Description = "Alternatives to show per generated token (0-20)" };
        var device = new Option<string>("--device") { Description = "cpu, cuda, cuda:N or auto", DefaultValueFactory = _ => "auto" };
        var dtype = new Option<string>("--dtype") { Description = "auto, float32, bfloat16 or float16", DefaultValueFactory = _ => "auto" };
        var command = new Command("generate", "Generate a continuation and show tokens, probabilities and timings")
        {
            checkpoint, prompt, maxNewTokens, temperature, topK, topP, minP, repetitionPenalty, seed, topLogprobs, device, dtype,
        };
        command.SetAction(parse =>
        {
            var parameters = new SamplingParameters
            {
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                MinP = parse.GetValue(minP),
                RepetitionPenalty = parse.GetValue(repetitionPenalty),
                Seed = parse.GetValue(seed),
                TopLogprobs = parse.GetValue(topLogprobs),
            };
            var stop = new StopConditions { MaxNewTokens = parse.GetValue(maxNewTokens) };
            var options = new EngineOptions { Device = parse.GetValue(device)!, DType = parse.GetValue(dtype)! };
            return Run(parse.GetValue(checkpoint)!, parse.GetValue(prompt)!, parameters, stop, options, Console.Out);
        });
        return command;
    }

    public static int Run(string checkpoint, string promptText, SamplingParameters parameters, StopConditions stop, EngineOptions options, TextWriter output)
    {
        try
        {
            parameters.Validate();
            stop.Validate();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        var loadClock = Stopwatch.StartNew();
        var tokenizer = CheckpointTokenizer.Load(checkpoint);
        using var model = ModelShard.Load(checkpoint, options: options);
        output.WriteLine($"Model: {model.Config.ModelType}, {model.Config.LayerCount} layers, vocabulary {model.Config.VocabularySize}, context {model.Config.ContextLength}, {model.Placement.Device.type}/{model.Placement.DType}, loaded in {loadClock.ElapsedMilliseconds} ms");

        var promptIds = tokenizer.Encode(promptText);
        TokenTable.PrintTokenization(tokenizer, promptIds, output);
        var eos = tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds : model.Config.EosTokenIds;

        var generator = new SequenceGenerator(model);
        var detokenizer = tokenizer.CreateStreamingDetokenizer();
        var steps = new List<GeneratedToken>();
        var clock = Stopwatch.StartNew();
        output.Write("Output: ");
        foreach (var token in generator.Generate(promptIds, parameters, stop, eos))
        {
            steps.Add(token);
            output.Write(detokenizer.Push(token.TokenId));
            output.Flush();
        }
        output.WriteLine(detokenizer.Flush());
        var total = clock.Elapsed;

        output.WriteLine($"Generated: {steps.Count} tokens, finish reason {steps[^1].Finish.ToString().ToLowerInvariant()}");
        foreach (var (step, i) in steps.Select((s, i) => (s, i)))
        {
            var line = $"  [{i}] {step.TokenId}:{TokenTable.Piece(tokenizer, step.TokenId)} logprob {step.Logprob:F3}";
            if (step.TopAlternatives.Count > 0)
            {
                line += "  top: " + string.Join(", ", step.TopAlternatives.Select(a => $"{a.TokenId}:{TokenTable.Piece(tokenizer, a.TokenId)} {a.Logprob:F3}"));
            }
            output.WriteLine(line);
        }
        var decodeTime = total - generator.LastPrefillTime;
        var decodeRate = steps.Count > 1 ? (steps.Count - 1) / decodeTime.TotalSeconds : 0;
        output.WriteLine($"Usage: prompt {promptIds.Count} tokens, generated {steps.Count} tokens");
        output.WriteLine($"Timings: time to first token {generator.LastPrefillTime.TotalMilliseconds:F1} ms, total {total.TotalMilliseconds:F1} ms, decode {decodeRate:F1} tokens/s");
        return 0;
    }
}
