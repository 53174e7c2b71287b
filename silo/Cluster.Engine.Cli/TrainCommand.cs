using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Cluster.Engine.Cli.Training;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Engine.Training;
using Cluster.Tokenizers;
using TorchSharp;

namespace Cluster.Engine.Cli;

/// <summary>
/// <c>train</c>: builds a GPT-2 BPE subset for the training text, trains a small Llama from a seed on the CPU,
/// and writes a Hugging Face checkpoint (config.json, model.safetensors, tokenizer files, training.json) that
/// <c>generate</c> serves. Progress lines show the loss, the held-out loss, tokens/s and the time left.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var train = new Option<string>("--train") { Description = "Training text (UTF-8)", Required = true };
        var heldOut = new Option<string>("--held-out") { Description = "Held-out text (UTF-8) for evaluation", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Checkpoint directory to write", Required = true };
        var vocabulary = Int("--vocab-size", "Tokens in the BPE subset, <|endoftext|> included", 4096);
        var hidden = Int("--hidden-size", "Model width", 256);
        var layers = Int("--layers", "Decoder layers", 6);
        var heads = Int("--heads", "Attention heads", 8);
        var kvHeads = Int("--kv-heads", "Key/value heads (grouped-query attention)", 2);
        var intermediate = Int("--intermediate-size", "Feed-forward width", 704);
        var context = Int("--context", "Context length and training sequence length", 256);
        var steps = Int("--steps", "Optimizer steps", 1000);
        var batch = Int("--batch-size", "Sequences per step", 16);
        var learningRate = Double("--learning-rate", "Peak learning rate", 3e-3);
        var minLearningRate = Double("--min-learning-rate", "Learning rate at the last step", 3e-4);
        var warmup = Int("--warmup-steps", "Linear warm-up steps", 50);
        var weightDecay = Double("--weight-decay", "AdamW decoupled weight decay on matrices", 0.1);
        var seed = new Option<long>("--seed") { Description = "Seed of the initial weights and the window order", DefaultValueFactory = _ => 1 };
        var evalInterval = Int("--eval-interval", "Steps between held-out evaluations", 100);
        var evalWindows = Int("--eval-windows", "Held-out windows per evaluation", 16);
        var threads = Int("--threads", "CPU threads (torch.set_num_threads)", 2);
        var logInterval = Int("--log-interval", "Steps between progress lines", 10);
        var dtype = new Option<string>("--dtype") { Description = "On-disk dtype: float16, bfloat16 or float32", DefaultValueFactory = _ => "float16" };
        var command = new Command("train", "Train a small Llama on a text corpus and write it as a Hugging Face checkpoint")
        {
            train, heldOut, output, vocabulary, hidden, layers, heads, kvHeads, intermediate, context, steps, batch,
            learningRate, minLearningRate, warmup, weightDecay, seed, evalInterval, evalWindows, threads, logInterval, dtype,
        };
        command.SetAction(parse =>
        {
            var contextLength = parse.GetValue(context);
            var config = new ModelConfig
            {
                Architecture = ModelArchitecture.Llama,
                ModelType = "llama",
                VocabularySize = parse.GetValue(vocabulary),
                HiddenSize = parse.GetValue(hidden),
                LayerCount = parse.GetValue(layers),
                HeadCount = parse.GetValue(heads),
                KeyValueHeadCount = parse.GetValue(kvHeads),
                HeadDimension = parse.GetValue(hidden) / parse.GetValue(heads),
                IntermediateSize = parse.GetValue(intermediate),
                MaxPositionEmbeddings = contextLength,
                NormEpsilon = 1e-5,
                TieWordEmbeddings = true,
                BosTokenId = parse.GetValue(vocabulary) - 1,
                EosTokenIds = [parse.GetValue(vocabulary) - 1],
            };
            var options = new TrainingOptions
            {
                Steps = parse.GetValue(steps),
                BatchSize = parse.GetValue(batch),
                SequenceLength = contextLength,
                LearningRate = parse.GetValue(learningRate),
                MinLearningRate = parse.GetValue(minLearningRate),
                WarmupSteps = parse.GetValue(warmup),
                WeightDecay = parse.GetValue(weightDecay),
                Seed = parse.GetValue(seed),
                EvaluationInterval = parse.GetValue(evalInterval),
                EvaluationWindows = parse.GetValue(evalWindows),
            };
            var diskDType = parse.GetValue(dtype) switch
            {
                "float16" => torch.ScalarType.Float16,
                "bfloat16" => torch.ScalarType.BFloat16,
                "float32" => torch.ScalarType.Float32,
                var other => throw new ArgumentException($"--dtype {other} is not float16, bfloat16 or float32."),
            };
            return Run(parse.GetValue(train)!, parse.GetValue(heldOut)!, parse.GetValue(output)!, config, options, diskDType,
                parse.GetValue(threads), parse.GetValue(logInterval), Console.Out);
        });
        return command;
    }

    public static int Run(string trainPath, string heldOutPath, string outputDirectory, ModelConfig config, TrainingOptions options, torch.ScalarType diskDType, int threads, int logInterval, TextWriter console)
    {
        torch.set_num_threads(threads);
        var trainText = File.ReadAllText(trainPath);
        var heldOutText = File.ReadAllText(heldOutPath);

        var subset = Gpt2BpeSubset.Build(trainText, config.VocabularySize);
        subset.Write(outputDirectory);
        var tokenizer = CheckpointTokenizer.Load(outputDirectory);
        var trainTokens = tokenizer.Encode(trainText);
        var heldOutTokens = tokenizer.Encode(heldOutText);
        console.WriteLine($"Tokenizer: GPT-2 BPE subset of {subset.Pieces.Count} tokens; train {trainTokens.Count:N0} tokens, held-out {heldOutTokens.Count:N0} tokens");

        using var model = new TrainableLlama(config, options.Seed);
        console.WriteLine($"Model: {config.LayerCount} layers, width {config.HiddenSize}, {config.HeadCount} heads / {config.KeyValueHeadCount} KV heads, feed-forward {config.IntermediateSize}, context {config.ContextLength}, {model.ParameterCount:N0} parameters; {options.Steps} steps of {options.BatchSize}×{options.SequenceLength} tokens, {threads} threads");
        var curve = new List<object>();
        var result = Trainer.Run(model, trainTokens, heldOutTokens, options, p =>
        {
            if (p.HeldOutLoss is { } h)
            {
                curve.Add(new { step = p.Step, train_loss = Math.Round(p.Loss, 4), held_out_loss = Math.Round(h, 4) });
            }
            if (p.Step % logInterval == 0 || p.HeldOutLoss is not null)
            {
                var heldOutText = p.HeldOutLoss is { } l ? $"  held-out {l:F3} (ppl {Math.Exp(l):F1})" : "";
                console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {p.Step,5}/{p.Steps}  loss {p.Loss:F3}{heldOutText}  lr {p.LearningRate:E2}  {p.TokensPerSecond:F0} tok/s  elapsed {p.Elapsed:hh\\:mm\\:ss}  left {p.Remaining:hh\\:mm\\:ss}"));
            }
        });
        model.Save(outputDirectory, diskDType);

        // Measured again through the serving path, on the saved (rounded) weights.
        using var served = ModelShard.Load(outputDirectory, options: new EngineOptions { Device = "cpu", DType = "float32" });
        var perplexity = HeldOutPerplexity.Compute(served, heldOutTokens, config.ContextLength);
        console.WriteLine($"Held-out loss before {result.InitialHeldOutLoss:F3}, after {result.FinalHeldOutLoss:F3}; served checkpoint: perplexity {perplexity.Perplexity:F2} on {perplexity.PredictedTokens:N0} held-out tokens (uniform: {config.VocabularySize}); {result.Elapsed.TotalMinutes:F1} minutes");
        var summary = new
        {
            corpus = new { train = Path.GetFileName(trainPath), held_out = Path.GetFileName(heldOutPath), train_tokens = trainTokens.Count, held_out_tokens = heldOutTokens.Count },
            parameters = model.ParameterCount,
            options,
            threads,
            minutes = Math.Round(result.Elapsed.TotalMinutes, 1),
            held_out = new { loss = Math.Round(perplexity.MeanLoss, 4), perplexity = Math.Round(perplexity.Perplexity, 2), tokens = perplexity.PredictedTokens, uniform_perplexity = config.VocabularySize },
            curve,
        };
        File.WriteAllText(Path.Combine(outputDirectory, "training.json"), JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return 0;
    }

    private static Option<int> Int(string name, string description, int value) => new(name) { Description = description, DefaultValueFactory = _ => value };

    private static Option<double> Double(string name, string description, double value) => new(name) { Description = description, DefaultValueFactory = _ => value };
}
