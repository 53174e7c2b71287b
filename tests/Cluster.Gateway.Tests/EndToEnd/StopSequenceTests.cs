using System.Text;
using Cluster.Contracts.Api;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>A stop sequence cuts the streamed text where it first appears, whatever the token boundaries.</summary>
public sealed class StopSequenceTests
{
    [Fact]
    public async Task AStopSequenceTakenFromTheMiddleOfAGreedyRunEndsTheRerunJustBeforeIt()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        const string prompt = "Tell me a story about";
        var sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 32, IgnoreEos = true };

        var (firstTokens, firstText, firstLast) = await StreamAsync(cluster, new GenerateRequest { Text = prompt, Sampling = sampling });
        Assert.Equal(FinishReason.Length, firstLast.FinishReason);
        var decoded = reference.Tokenizer.Decode(firstTokens);
        Assert.True(firstText == decoded, $"Streamed text '{firstText}' differs from the decoded tokens '{decoded}'.");

        // Two tokens from the middle whose text stands on its own (not whitespace, no broken character).
        var stop = Enumerable.Range(firstTokens.Count / 2, firstTokens.Count / 2 - 2)
            .Select(i => reference.Tokenizer.Decode(firstTokens.Skip(i).Take(2)))
            .FirstOrDefault(t => t.Trim().Length > 0 && !t.Contains('\uFFFD') && firstText.Contains(t, StringComparison.Ordinal));
        Assert.True(stop is not null, $"No two tokens in the second half of [{string.Join(",", firstTokens)}] decode to text found in '{firstText}'.");
        var cut = firstText.IndexOf(stop, StringComparison.Ordinal);

        var (secondTokens, secondText, secondLast) = await StreamAsync(cluster,
            new GenerateRequest { Text = prompt, Sampling = new SamplingParameters(sampling) { Stop = { stop } } });
        Assert.True(secondText == firstText[..cut],
            $"With stop '{Escape(stop)}': streamed '{Escape(secondText)}'; expected the first run's text up to it, '{Escape(firstText[..cut])}'.");
        Assert.True(secondLast.FinishReason == FinishReason.Stop, $"With stop '{Escape(stop)}': finish reason {secondLast.FinishReason}.");
        Assert.True(firstTokens.Take(secondTokens.Count).SequenceEqual(secondTokens) && secondTokens.Count < firstTokens.Count,
            $"With stop '{Escape(stop)}': tokens [{string.Join(",", secondTokens)}] are not a proper prefix of the first run's [{string.Join(",", firstTokens)}].");
        Assert.Equal((uint)secondTokens.Count, secondLast.Usage.GeneratedTokens);
    }

    private static async Task<(List<int> Tokens, string Text, GenerateResponse Last)> StreamAsync(ClusterUnderTest cluster, GenerateRequest request)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var call = cluster.Client.Generate(request, cancellationToken: timeout.Token);
        var tokens = new List<int>();
        var text = new StringBuilder();
        GenerateResponse? last = null;
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            last = call.ResponseStream.Current;
            tokens.AddRange(last.TokenIds);
            text.Append(last.Text);
        }
        Assert.NotNull(last);
        return (tokens, text.ToString(), last);
    }

    private static string Escape(string text) => text.Replace("\n", "\\n").Replace("\r", "\\r");
}
