using System.Text.Json.Nodes;

namespace Cluster.Tokenizers;

/// <summary>Reads the original GPT-2 pair of files: vocab.json (piece to id) and merges.txt ("a b" per line, ranked by line).</summary>
internal static class Gpt2VocabAndMerges
{
    public static ByteLevelBpeModel Read(string vocabPath, string mergesPath)
    {
        JsonObject vocabJson = JsonFile.ReadObjectIfExists(vocabPath)
            ?? throw new FileNotFoundException($"{vocabPath} does not exist.", vocabPath);
        Dictionary<string, int> vocabulary = ReadVocabulary(vocabJson, vocabPath, "the top-level object");
        return new ByteLevelBpeModel(
            vocabPath,
            vocabulary,
            ReadMergesText(mergesPath),
            PreTokenizerSequence.Gpt2,
            Normalizations: [],
            IgnoreMerges: false,
            AddedTokens: [],
            TemplateBosToken: null);
    }

    /// <summary>A JSON object mapping piece to id, as in vocab.json and tokenizer.json's model.vocab.</summary>
    public static Dictionary<string, int> ReadVocabulary(JsonObject vocab, string path, string where)
    {
        var vocabulary = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        foreach ((string piece, JsonNode? idNode) in vocab)
        {
            if (idNode is not JsonValue value || !value.TryGetValue(out int id) || id < 0)
            {
                throw new InvalidDataException($"{path}: {where} maps \"{piece}\" to {idNode?.ToJsonString() ?? "null"}; token ids must be non-negative integers.");
            }

            vocabulary[piece] = id;
        }

        if (vocabulary.Count == 0)
        {
            throw new InvalidDataException($"{path}: {where} is an empty vocabulary.");
        }

        return vocabulary;
    }

    private static List<string> ReadMergesText(string mergesPath)
    {
        var merges = new List<string>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(mergesPath))
        {
            lineNumber++;
            // The first line of GPT-2's file is a "#version: 0.2" header, not a merge.
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)))
            {
                continue;
            }

            string[] parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            {
                throw new InvalidDataException($"{mergesPath}, line {lineNumber}: expected two pieces separated by one space, found \"{line}\".");
            }

            merges.Add(line);
        }

        return merges;
    }
}
