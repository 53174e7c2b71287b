using System.Text;

namespace Cluster.Tokenizers;

/// <summary>
/// What a byte-level BPE checkpoint declares, whichever files it came from (tokenizer.json, or vocab.json + merges.txt):
/// the data Microsoft.ML.Tokenizers needs to run the merges, plus what we need around it.
/// </summary>
internal sealed record ByteLevelBpeModel(
    string SourceFile,
    IReadOnlyDictionary<string, int> Vocabulary,
    IReadOnlyList<string> Merges,
    string PreTokenizerPattern,
    NormalizationForm? Normalization,
    IReadOnlyList<AddedToken> AddedTokens,
    string? TemplateBosToken);
