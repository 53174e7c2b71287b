namespace Cluster.Tokenizers.Tests;

/// <summary>When a checkpoint has no usable tokenizer, the exception says which file and what is wrong.</summary>
public sealed class LoaderErrorTests
{
    [Fact]
    public void Empty_directory_names_the_files_it_looked_for()
    {
        string directory = TokenizerDirectories.NewDirectory("empty");

        var error = Assert.Throws<FileNotFoundException>(() => CheckpointTokenizer.Load(directory));

        Assert.Contains(directory, error.Message);
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("tokenizer.model", error.Message);
    }

    [Fact]
    public void Missing_directory_is_reported_as_such()
    {
        string directory = Path.Combine(TokenizerDirectories.NewDirectory("parent"), "does-not-exist");

        var error = Assert.Throws<DirectoryNotFoundException>(() => CheckpointTokenizer.Load(directory));

        Assert.Contains(directory, error.Message);
    }

    [Theory]
    [InlineData("{ \"model\": { \"type\": \"BPE\", ", "not valid JSON")]
    [InlineData("[1, 2, 3]", "JSON object")]
    [InlineData("{ \"version\": \"1.0\" }", "no \"model\" object")]
    [InlineData("{ \"pre_tokenizer\": { \"type\": \"ByteLevel\" }, \"model\": { \"type\": \"BPE\", \"vocab\": { \"a\": 0 }, \"merges\": [\"a\"] } }", "model.merges[0]")]
    [InlineData("{ \"pre_tokenizer\": { \"type\": \"ByteLevel\" }, \"model\": { \"type\": \"BPE\", \"vocab\": { \"a\": \"zero\" }, \"merges\": [] } }", "model.vocab")]
    [InlineData("{ \"pre_tokenizer\": { \"type\": \"Whitespace\" }, \"decoder\": { \"type\": \"ByteLevel\" }, \"model\": { \"type\": \"BPE\", \"vocab\": { \"a\": 0 }, \"merges\": [] } }", "\"Whitespace\" is not supported")]
    [InlineData("{ \"model\": { \"type\": \"WordPiece\", \"vocab\": {} } }", "not describe a byte-level BPE")]
    public void Malformed_tokenizer_json_names_the_file_and_the_problem(string content, string expectedInMessage)
    {
        string directory = TokenizerDirectories.NewDirectory("malformed");
        string path = Path.Combine(directory, "tokenizer.json");
        File.WriteAllText(path, content);

        var error = Assert.Throws<InvalidDataException>(() => CheckpointTokenizer.Load(directory));

        Assert.True(error.Message.Contains(path) && error.Message.Contains(expectedInMessage), $"message was: {error.Message}");
    }

    [Fact]
    public void Vocab_json_without_merges_txt_names_the_missing_file()
    {
        string directory = TokenizerDirectories.NewDirectory("no-merges");
        File.WriteAllText(Path.Combine(directory, "vocab.json"), "{ \"a\": 0 }");

        var error = Assert.Throws<FileNotFoundException>(() => CheckpointTokenizer.Load(directory));

        Assert.Contains(Path.Combine(directory, "merges.txt"), error.Message);
    }

    [Fact]
    public void Corrupt_tokenizer_model_names_the_file()
    {
        string directory = TokenizerDirectories.NewDirectory("corrupt-model");
        string path = Path.Combine(directory, "tokenizer.model");
        File.WriteAllBytes(path, [0xFF, 0xFF, 0xFF, 0x01, 0x02]);

        var error = Assert.Throws<InvalidDataException>(() => CheckpointTokenizer.Load(directory));

        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void Malformed_tokenizer_config_json_names_the_file()
    {
        string directory = TokenizerDirectories.CopyOf(TokenizerDirectories.Gpt2SubsetJson);
        string path = Path.Combine(directory, "tokenizer_config.json");
        File.WriteAllText(path, "{ \"bos_token\": 7 }");

        var error = Assert.Throws<InvalidDataException>(() => CheckpointTokenizer.Load(directory));

        Assert.True(error.Message.Contains(path) && error.Message.Contains("bos_token"), $"message was: {error.Message}");
    }

    [Fact]
    public void Decoding_an_id_outside_the_vocabulary_says_which_id()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.Gpt2SubsetJson);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([262, 5000]));

        Assert.Contains("5000", error.Message);
    }
}
