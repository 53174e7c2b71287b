using System.Text;

namespace Cluster.Tokenizers;

/// <summary>
/// What a byte-level BPE checkpoint declares, whichever files it came from (tokenizer.json, or vocab.json + merges.txt):
/// the data Microsoft.ML.Tokenizers needs to run the merges, plus what we need around it.
/// </summary>
/// <param name="Normalizations">Unicode normalization forms applied in order (Qwen2: NFC); empty for none.</param>
/// <param name="IgnoreMerges">A word that is itself in the vocabulary becomes that id without merging (Llama 3).</param>
internal sealed record ByteLevelBpeModel(
    string SourceFile,
    IReadOnlyDictionary<string, int> Vocabulary,
    IReadOnlyList<string> Merges,
    PreTokenizerSequence PreTokenizer,
    IReadOnlyList<NormalizationForm> Normalizations,
    bool IgnoreMerges,
    IReadOnlyList<AddedToken> AddedTokens,
    string? TemplateBosToken);
