using System.CommandLine;
using Cluster.Tokenizers;

namespace Cluster.Engine.Cli;

/// <summary><c>tokenize DIR TEXT</c>: the token count (what a request costs) and each id with its piece.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "Hugging Face checkpoint directory (tokenizer files)" };
        var text = new Argument<string>("text") { Description = "Text to tokenize" };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add the BOS token even where the checkpoint does" };
        var command = new Command("tokenize", "Count and show the tokens of a text") { checkpoint, text, noBos };
        command.SetAction(parse =>
        {
            var tokenizer = CheckpointTokenizer.Load(parse.GetValue(checkpoint)!);
            var ids = tokenizer.Encode(parse.GetValue(text)!, parse.GetValue(noBos) ? false : null);
            TokenTable.PrintTokenization(tokenizer, ids, Console.Out);
            return 0;
        });
        return command;
    }
}
