using System.CommandLine;

namespace Cluster.Client.Tests;

/// <summary>The commands against a real gRPC server: what they print and their exit codes.</summary>
public sealed class CommandsAgainstAServerTests
{
    [Fact]
    public async Task Generate_streams_the_text_then_tokens_logprobs_usage_and_timings()
    {
        await using FakeGateway gateway = await FakeGateway.StartAsync();

        (int exit, string output, string error) = await RunAsync("오늘 날씨 어때?", "--address", gateway.Address, "--logprobs", "1", "--new-session", "-n", "3");

        Assert.True(exit == 0, $"exit {exit}; output:\n{output}\nerror:\n{error}");
        string[] expectedInOrder =
        [
            "Session: new-session-1",
            "오늘 맑음 👍",
            "Tokens (3): [101, 102, 103]",
            "  [0] 101 \"오늘\" -0.500  top: 7 \"\\n\" -1.250",
            "  [1] 102 -0.500  top: 7 \"\\n\" -1.250",
            "Request: req-1, finish reason Length",
            "Usage: prompt 5 tokens (2 cached), generated 3 tokens",
            "Timings: queue 1.0 ms, time to first token 10.0 ms, total 30.0 ms, 100.0 tokens/s",
        ];
        int at = 0;
        foreach (string expected in expectedInOrder)
        {
            int found = output.IndexOf(expected, at, StringComparison.Ordinal);
            Assert.True(found >= 0, $"\"{expected}\" not found (after offset {at}) in:\n{output}");
            at = found + expected.Length;
        }

        Assert.Equal("new-session-1", gateway.Service.LastRequest?.SessionId);
        Assert.Equal(3u, gateway.Service.LastRequest?.Sampling.MaxNewTokens);
    }

    [Fact]
    public async Task An_api_key_goes_as_a_bearer_token_and_none_sends_no_header()
    {
        await using FakeGateway gateway = await FakeGateway.StartAsync();

        (int exit, _, string error) = await RunAsync("hi", "--address", gateway.Address, "--api-key", "secret-key");
        Assert.True(exit == 0 && gateway.Service.LastAuthorization == "Bearer secret-key", $"exit {exit} ({error}); authorization header: '{gateway.Service.LastAuthorization}'.");

        (exit, _, error) = await RunAsync("hi", "--address", gateway.Address, "--api-key", "");
        Assert.True(exit == 0 && gateway.Service.LastAuthorization is null, $"exit {exit} ({error}); an empty key sent authorization '{gateway.Service.LastAuthorization}'.");
    }

    [Fact]
    public async Task Grpc_errors_print_the_status_and_exit_non_zero()
    {
        await using FakeGateway gateway = await FakeGateway.StartAsync();

        (int generateExit, _, string generateError) = await RunAsync("fail", "--address", gateway.Address);
        (int deleteExit, _, string deleteError) = await RunAsync("delete-session", "missing", "--address", gateway.Address);

        Assert.True(generateExit != 0 && generateError.Contains("InvalidArgument (3): sampling.top_p must be in (0, 1]; got 1.5", StringComparison.Ordinal), $"exit {generateExit}, error: {generateError}");
        Assert.True(deleteExit != 0 && deleteError.Contains("NotFound (5): session missing not found", StringComparison.Ordinal), $"exit {deleteExit}, error: {deleteError}");
    }

    [Fact]
    public async Task A_refusal_for_lack_of_room_prints_the_gateways_retry_hint()
    {
        await using FakeGateway gateway = await FakeGateway.StartAsync();

        (int exit, _, string error) = await RunAsync("busy", "--address", gateway.Address);

        Assert.True(exit != 0 && error.Contains("ResourceExhausted (8): The queue is full", StringComparison.Ordinal) && error.Contains("retrying after 1500 ms", StringComparison.Ordinal),
            $"exit {exit}, error: {error}");
    }

    [Fact]
    public async Task Inspect_prints_the_counts_and_each_tokens_spans()
    {
        await using FakeGateway gateway = await FakeGateway.StartAsync();

        (int exit, string output, string error) = await RunAsync("inspect", "오늘 👍", "--address", gateway.Address, "--no-bos", "--top", "4", "-t", "0.8", "--top-k", "40", "--all-positions");

        Assert.True(exit == 0, $"exit {exit}; output:\n{output}\nerror:\n{error}");
        foreach (string expected in new[]
        {
            "3 tokens, 2 words, 4 characters, 11 UTF-8 bytes: 1.50 tokens per word, 0.75 per character",
            "   1      500  \"▁오늘\"",
            "[0,6)        [0,2)      \"오늘\"",
            "(special)",
            "words: 오늘 | 👍",
            "    1      0  S127.0.0.1:11111:1            2.50  \" yes\" 75.0%",
            "Next token: \" yes\" 75.0%",
            "   0      500    1.250  \"오늘\" 1.00  \"내일\" 0.50",
            "Positions: rotary, base 10000, 2 frequencies per head (head_dim 4) from 1 to 0.01 rad per token (wavelengths 6.3 to 628 tokens)",
            "  1: 0.77  2: 0.29  4: -0.33",
            "Attention, layer 1 head 0 (stage 0 on S127.0.0.1:11111:1), rows from token 0:",
            "|█  |  most: 0",
            "|▒▒ |  most: 0",
            "| ░▓|  most: 2",
            "kept: 1024 candidates, 1024 after min-p, 40 after top-k, 1 after top-p",
            "drawn from: \" yes\" 100.0%",
            "Logit lens at every position (the top next token after each layer):",
            "   # token        L1       ",
            "   2 \" \"          \" yes\"   ",
        })
        {
            Assert.True(output.Contains(expected, StringComparison.Ordinal), $"\"{expected}\" not in:\n{output}");
        }
        Assert.True(gateway.Service.LastInspect is { Text: "오늘 👍", HasAddSpecialTokens: true, AddSpecialTokens: false, TopN: 4, LensAllPositions: true, Sampling: { Temperature: 0.8f, TopK: 40, HasTopP: false } }, $"request: {gateway.Service.LastInspect}");
    }

    [Fact]
    public async Task Count_prints_the_count()
    {
        await using FakeGateway gateway = await FakeGateway.StartAsync();

        (int exit, string output, string error) = await RunAsync("count", "hello", "--address", gateway.Address);

        Assert.True(exit == 0 && output.Trim() == "5", $"exit {exit}, output \"{output}\", error \"{error}\"");
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = await ClientCommands.Create().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }
}
