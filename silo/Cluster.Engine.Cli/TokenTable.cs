using Cluster.Tokenizers;

namespace Cluster.Engine.Cli;

/// <summary>Renders token ids with the vocabulary's spelling of each, so users see exactly how text was split.</summary>
internal static class TokenTable
{
    public static void PrintTokenization(CheckpointTokenizer tokenizer, IReadOnlyList<int> ids, TextWriter output)
    {
        output.WriteLine($"Prompt: {ids.Count} tokens ({tokenizer.Kind})");
        output.WriteLine("  " + string.Join(" ", ids.Select(id => $"{id}:{Piece(tokenizer, id)}")));
    }

    /// <summary>The piece, quoted, with invisible characters escaped.</summary>
    public static string Piece(CheckpointTokenizer tokenizer, int id)
    {
        if (!tokenizer.Knows(id))
        {
            return "<no token: id beyond the tokenizer's vocabulary>";
        }
        var piece = tokenizer.TokenPiece(id);
        return "'" + piece.Replace("\n", "\\n").Replace("\t", "\\t").Replace("\r", "\\r") + "'";
    }
}
