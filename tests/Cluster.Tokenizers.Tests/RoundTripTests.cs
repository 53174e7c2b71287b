namespace Cluster.Tokenizers.Tests;

/// <summary>Encode then Decode gives back the input, for every kind of checkpoint and every kind of text.</summary>
public sealed class RoundTripTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string tokenizer in TokenizerDirectories.All)
        {
            foreach (string text in SampleTexts.All)
            {
                data.Add(tokenizer, text);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decode_of_Encode_is_the_input(string tokenizerName, string text)
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(tokenizerName);

        IReadOnlyList<int> ids = tokenizer.Encode(text);
        string decoded = tokenizer.Decode(ids);

        Assert.True(decoded == text, $"{tokenizerName}: \"{text}\" encoded to [{string.Join(", ", ids)}] decoded to \"{decoded}\".");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void CountTokens_equals_the_number_of_ids_Encode_returns(string tokenizerName, string text)
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(tokenizerName);

        foreach (bool? addBos in new bool?[] { null, true, false })
        {
            int encoded = tokenizer.Encode(text, addBos).Count;
            int counted = tokenizer.CountTokens(text, addBos);
            Assert.True(encoded == counted, $"{tokenizerName}, addBos {addBos?.ToString() ?? "default"}: Encode gave {encoded} ids, CountTokens {counted}, for \"{text}\".");
        }
    }
}
