using System.CommandLine;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Engine.Training;
using Cluster.Tokenizers;

namespace Cluster.Engine.Cli;

/// <summary><c>perplexity DIR FILE</c>: the checkpoint's perplexity on a text, through the serving path, beside the uniform one.</summary>
internal static class PerplexityCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "Hugging Face checkpoint directory" };
        var text = new Argument<string>("text") { Description = "UTF-8 text file to score" };
        var window = new Option<int>("--window") { Description = "Tokens predicted per window (at most the context length; default: the context length)" };
        var maxWindows = new Option<int>("--max-windows") { Description = "Score only the first N windows (0 = all)" };
        var command = new Command("perplexity", "Held-out perplexity of a checkpoint on a text file") { checkpoint, text, window, maxWindows };
        command.SetAction(parse =>
        {
            var directory = parse.GetValue(checkpoint)!;
            var tokenizer = CheckpointTokenizer.Load(directory);
            using var model = ModelShard.Load(directory, options: new EngineOptions { Device = "cpu" });
            var tokens = tokenizer.Encode(File.ReadAllText(parse.GetValue(text)!));
            var length = parse.GetValue(window) is > 0 and var w ? w : model.Config.ContextLength;
            var limit = parse.GetValue(maxWindows) is > 0 and var m ? m : int.MaxValue;
            var result = HeldOutPerplexity.Compute(model, tokens, length, limit);
            Console.WriteLine($"Perplexity {result.Perplexity:F2} (mean loss {result.MeanLoss:F4} nats) on {result.PredictedTokens:N0} tokens; uniform over the vocabulary: {model.Config.VocabularySize}");
            return 0;
        });
        return command;
    }
}
