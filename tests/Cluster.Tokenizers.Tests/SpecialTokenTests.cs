using System.Text.Json.Nodes;
using Cluster.Testing;

namespace Cluster.Tokenizers.Tests;

/// <summary>BOS / EOS and special tokens as the checkpoint's files declare them.</summary>
public sealed class SpecialTokenTests
{
    [Fact]
    public void Named_special_tokens_are_read_whether_written_as_strings_or_content_objects()
    {
        IReadOnlyDictionary<string, string> objects = TokenizerDirectories.Tokenizer(TokenizerDirectories.SentencePiece).NamedSpecialTokens;
        IReadOnlyDictionary<string, string> strings = TokenizerDirectories.Tokenizer(TokenizerDirectories.Gpt2SubsetVocabMerges).NamedSpecialTokens;

        Assert.True(objects.Count == 3 && objects["bos_token"] == "<s>" && objects["eos_token"] == "</s>" && objects["unk_token"] == "<unk>",
            $"SentencePiece ({{\"content\": ...}} objects): {string.Join(", ", objects.Select(t => $"{t.Key}={t.Value}"))}");
        Assert.True(strings["bos_token"] == "<|endoftext|>" && strings["eos_token"] == "<|endoftext|>",
            $"GPT-2 (strings): {string.Join(", ", strings.Select(t => $"{t.Key}={t.Value}"))}");
    }

    [Fact]
    public void SentencePiece_adds_BOS_by_default_and_reads_EOS()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.SentencePiece);
        TokenizerFileInfo info = TokenizerDirectories.Info(TokenizerDirectories.SentencePiece);

        IReadOnlyList<int> byDefault = tokenizer.Encode("hello world");
        IReadOnlyList<int> without = tokenizer.Encode("hello world", addBos: false);

        Assert.Equal("SentencePiece", tokenizer.Kind);
        Assert.True(tokenizer.AddsBosToken);
        Assert.Equal(info.BosTokenId, tokenizer.BosTokenId);
        Assert.Equal(info.EosTokenIds, tokenizer.EosTokenIds);
        Assert.Equal(info.VocabularySize, tokenizer.VocabularySize);
        Assert.True(byDefault[0] == 1, $"default encoding starts with {byDefault[0]}, not BOS 1: [{string.Join(", ", byDefault)}]");
        Assert.True(byDefault.Skip(1).SequenceEqual(without), $"with BOS [{string.Join(", ", byDefault)}], without [{string.Join(", ", without)}]");
        Assert.Equal(["▁hello", "▁world"], without.Select(tokenizer.TokenPiece));
        Assert.True(tokenizer.IsSpecialToken(1) && tokenizer.IsSpecialToken(2) && !tokenizer.IsSpecialToken(without[0]));
        Assert.Equal("hello world", tokenizer.Decode(byDefault));
        Assert.Equal("<s>hello world</s>", tokenizer.Decode([.. byDefault, 2], skipSpecialTokens: false));
    }

    [Fact]
    public void SentencePiece_byte_pieces_are_spelled_as_the_vocabulary_spells_them()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.SentencePiece);

        Assert.Equal("<0xEC>", tokenizer.TokenPiece(3 + 0xEC));
        Assert.Equal("<unk>", tokenizer.TokenPiece(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.TokenPiece(tokenizer.VocabularySize));
    }

    [Theory]
    [InlineData(TokenizerDirectories.Gpt2SubsetJson)]
    [InlineData(TokenizerDirectories.Gpt2SubsetVocabMerges)]
    public void GPT2_does_not_add_BOS_and_reads_endoftext_as_BOS_and_EOS(string name)
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(name);
        TokenizerFileInfo info = TokenizerDirectories.Info(name);

        Assert.False(tokenizer.AddsBosToken);
        Assert.Equal(1024, tokenizer.VocabularySize);
        Assert.Equal(info.BosTokenId, tokenizer.BosTokenId);
        Assert.Equal(info.EosTokenIds, tokenizer.EosTokenIds);
        Assert.Equal([262], tokenizer.Encode(" the"));
        Assert.Equal([1023, 262], tokenizer.Encode(" the", addBos: true));
        Assert.True(tokenizer.IsSpecialToken(1023), "<|endoftext|> should be special");
        Assert.False(tokenizer.IsSpecialToken(262));
        Assert.Equal([1023], tokenizer.Encode("<|endoftext|>"));
    }

    [Fact]
    public void EOS_ids_are_gathered_from_generation_config_and_config()
    {
        string directory = TokenizerDirectories.CopyOf(TokenizerDirectories.Gpt2SubsetJson);
        File.WriteAllText(Path.Combine(directory, "generation_config.json"), """{ "bos_token_id": 1023, "eos_token_id": [1023, 13] }""");
        File.WriteAllText(Path.Combine(directory, "config.json"), """{ "model_type": "gpt2", "eos_token_id": 198 }""");

        CheckpointTokenizer tokenizer = CheckpointTokenizer.Load(directory);

        Assert.Equal([1023, 13, 198], tokenizer.EosTokenIds);
    }

    [Fact]
    public void BOS_and_EOS_ids_come_from_config_json_when_no_token_is_named()
    {
        string directory = TokenizerDirectories.CopyOf(TokenizerDirectories.Gpt2SubsetJson);
        File.Delete(Path.Combine(directory, "tokenizer_config.json"));
        File.WriteAllText(Path.Combine(directory, "config.json"), """{ "bos_token_id": 1023, "eos_token_id": 1023 }""");

        CheckpointTokenizer tokenizer = CheckpointTokenizer.Load(directory);

        Assert.Equal(1023, tokenizer.BosTokenId);
        Assert.Equal([1023], tokenizer.EosTokenIds);
        Assert.False(tokenizer.AddsBosToken);
    }

    [Fact]
    public void A_template_post_processor_with_a_leading_special_token_adds_BOS_like_Llama_3()
    {
        string directory = TokenizerDirectories.CopyOf(TokenizerDirectories.Gpt2SubsetJson);
        File.Delete(Path.Combine(directory, "tokenizer_config.json"));
        string path = Path.Combine(directory, "tokenizer.json");
        JsonObject json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json["post_processor"] = JsonNode.Parse("""
            { "type": "Sequence", "processors": [
                { "type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true },
                { "type": "TemplateProcessing",
                  "single": [ { "SpecialToken": { "id": "<|endoftext|>", "type_id": 0 } }, { "Sequence": { "id": "A", "type_id": 0 } } ],
                  "pair": [], "special_tokens": {} } ] }
            """);
        File.WriteAllText(path, json.ToJsonString());

        CheckpointTokenizer tokenizer = CheckpointTokenizer.Load(directory);

        Assert.True(tokenizer.AddsBosToken);
        Assert.Equal(1023, tokenizer.BosTokenId);
        Assert.Equal([1023, 262], tokenizer.Encode(" the"));
        Assert.Equal(2, tokenizer.CountTokens(" the"));
    }
}
