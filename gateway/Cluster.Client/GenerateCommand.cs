using System.CommandLine;
using System.Globalization;
using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.Client;

/// <summary>
/// <c>cluster-client PROMPT [options]</c>: streams the continuation as it arrives, then prints the token ids, the
/// log-probabilities (with --logprobs), usage and timings. <see cref="ToRequest"/> is the mapping from the command
/// line to the <see cref="GenerateRequest"/>; options left out stay unset so the server applies its defaults.
/// </summary>
public sealed class GenerateCommand
{
    public Argument<string> Prompt { get; } = new("prompt") { Description = "Prompt text" };

    public Option<string> Model { get; } = ModelOption.Create();

    public Option<uint?> MaxNewTokens { get; } = new("--max-new-tokens", "-n") { Description = "Most tokens to generate (default: the server's, 256)" };

    public Option<float?> Temperature { get; } = new("--temperature", "-t") { Description = "0 = greedy (default 1)" };

    public Option<int> TopK { get; } = new("--top-k") { Description = "Keep the k most likely tokens (0 = off)" };

    public Option<float?> TopP { get; } = new("--top-p") { Description = "Nucleus sampling mass in (0, 1] (default 1 = off)" };

    public Option<float?> MinP { get; } = new("--min-p") { Description = "Drop tokens below this fraction of the most likely token's probability, in [0, 1] (default 0 = off)" };

    public Option<float?> RepetitionPenalty { get; } = new("--repetition-penalty") { Description = "> 0 (default 1 = off)" };

    public Option<ulong?> Seed { get; } = new("--seed") { Description = "Seed for reproducible sampling (default: drawn by the server)" };

    public Option<string[]> Stop { get; } = new("--stop") { Description = "Stop when the text contains this (repeatable); the stop text is not returned" };

    public Option<int[]> StopTokenIds { get; } = new("--stop-token-id") { Description = "Stop when this token is generated (repeatable)" };

    public Option<bool> IgnoreEos { get; } = new("--ignore-eos") { Description = "Keep generating past the model's EOS token" };

    public Option<uint?> Logprobs { get; } = new("--logprobs") { Description = "Show each token's log-probability and this many alternatives (0-20)" };

    public Option<bool> NoBos { get; } = new("--no-bos") { Description = "Do not add the model's BOS token to a fresh sequence" };

    public Option<string> Session { get; } = new("--session", "-s") { Description = "Continue this session (its KV cache is reused)", DefaultValueFactory = _ => "" };

    public Option<bool> NewSession { get; } = new("--new-session") { Description = "Create a session first, print its id and generate in it" };

    public Option<bool> Chat { get; } = new("--chat", "-c") { Description = "Send the prompt as a user message, rendered with the model's chat template" };

    public Option<string?> System { get; } = new("--system") { Description = "A system message before the prompt (implies --chat)" };

    /// <summary>Puts the prompt argument and the options on <paramref name="command"/> and makes it generate.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Arguments.Add(Prompt);
        foreach (Option option in new Option[] { Model, MaxNewTokens, Temperature, TopK, TopP, MinP, RepetitionPenalty, Seed, Stop, StopTokenIds, IgnoreEos, Logprobs, NoBos, Session, NewSession, Chat, System })
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, cancellation) => GatewayConnection.RunAsync(parse, (client, output) => RunAsync(parse, client, output, cancellation)));
    }

    /// <summary>The request the command line asks for (without the session a --new-session would create).</summary>
    public GenerateRequest ToRequest(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var sampling = new SamplingParameters { TopK = parse.GetValue(TopK), IgnoreEos = parse.GetValue(IgnoreEos) };
        if (parse.GetValue(Temperature) is float temperature)
        {
            sampling.Temperature = temperature;
        }

        if (parse.GetValue(TopP) is float topP)
        {
            sampling.TopP = topP;
        }

        if (parse.GetValue(MinP) is float minP)
        {
            sampling.MinP = minP;
        }

        if (parse.GetValue(RepetitionPenalty) is float penalty)
        {
            sampling.RepetitionPenalty = penalty;
        }

        if (parse.GetValue(Seed) is ulong seed)
        {
            sampling.Seed = seed;
        }

        if (parse.GetValue(MaxNewTokens) is uint maxNewTokens)
        {
            sampling.MaxNewTokens = maxNewTokens;
        }

        sampling.Stop.Add(parse.GetValue(Stop) ?? []);
        sampling.StopTokenIds.Add(parse.GetValue(StopTokenIds) ?? []);

        var request = new GenerateRequest
        {
            Model = parse.GetValue(Model) ?? "",
            Text = parse.GetValue(Prompt) ?? "",
            SessionId = parse.GetValue(Session) ?? "",
            Sampling = sampling,
        };
        if (parse.GetValue(Logprobs) is uint topLogprobs)
        {
            request.Logprobs = true;
            request.TopLogprobs = topLogprobs;
        }

        if (parse.GetValue(NoBos))
        {
            request.AddSpecialTokens = false;
        }

        if (parse.GetValue(Chat) || parse.GetValue(System) is not null)
        {
            request.Messages = new ChatMessages();
            if (parse.GetValue(System) is { } system)
            {
                request.Messages.Messages.Add(new ChatMessage { Role = "system", Content = system });
            }

            request.Messages.Messages.Add(new ChatMessage { Role = "user", Content = parse.GetValue(Prompt) ?? "" }); // replaces the text (one prompt)
        }

        return request;
    }

    private async Task<int> RunAsync(ParseResult parse, Generation.GenerationClient client, TextWriter output, CancellationToken cancellation)
    {
        GenerateRequest request = ToRequest(parse);
        if (parse.GetValue(NewSession))
        {
            if (request.SessionId.Length > 0)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("error: --session and --new-session exclude each other");
                return 2;
            }

            CreateSessionResponse session = await client.CreateSessionAsync(new CreateSessionRequest { Model = request.Model }, cancellationToken: cancellation);
            request.SessionId = session.SessionId;
            await output.WriteLineAsync($"Session: {session.SessionId}");
        }

        var result = new GenerationResult();
        using (AsyncServerStreamingCall<GenerateResponse> call = client.Generate(request, cancellationToken: cancellation))
        {
            await foreach (GenerateResponse response in call.ResponseStream.ReadAllAsync(cancellation))
            {
                await output.WriteAsync(response.Text);
                await output.FlushAsync(cancellation);
                result.Add(response);
            }
        }

        await output.WriteLineAsync();
        await output.WriteLineAsync();
        await result.PrintAsync(output);
        return 0;
    }
}

/// <summary>What a Generate stream delivered, gathered for the summary after the text.</summary>
internal sealed class GenerationResult
{
    private readonly List<int> _tokenIds = [];
    private readonly List<TokenLogprobs> _logprobs = [];
    private GenerateResponse? _last;

    public void Add(GenerateResponse response)
    {
        _tokenIds.AddRange(response.TokenIds);
        _logprobs.AddRange(response.Logprobs);
        _last = response;
    }

    public async Task PrintAsync(TextWriter output)
    {
        CultureInfo invariant = CultureInfo.InvariantCulture;
        await output.WriteLineAsync($"Tokens ({_tokenIds.Count}): [{string.Join(", ", _tokenIds)}]");
        if (_logprobs.Count > 0)
        {
            await output.WriteLineAsync("Logprobs:");
            for (int i = 0; i < _logprobs.Count; i++)
            {
                TokenLogprobs token = _logprobs[i];
                string line = $"  [{i}] {token.TokenId} {token.Logprob.ToString("F3", invariant)}";
                if (token.Top.Count > 0)
                {
                    line += "  top: " + string.Join(", ", token.Top.Select(t => $"{t.TokenId} {Show.Piece(t.Piece)} {t.Logprob.ToString("F3", invariant)}"));
                }

                await output.WriteLineAsync(line);
            }
        }

        if (_last is null)
        {
            await output.WriteLineAsync("The stream ended without a message.");
            return;
        }

        if (_last.SessionId.Length > 0)
        {
            await output.WriteLineAsync($"Session: {_last.SessionId}");
        }

        await output.WriteLineAsync($"Request: {_last.RequestId}, finish reason {_last.FinishReason}");
        if (_last.Usage is Usage usage)
        {
            await output.WriteLineAsync($"Usage: prompt {usage.PromptTokens} tokens ({usage.CachedPromptTokens} cached), generated {usage.GeneratedTokens} tokens");
        }

        if (_last.Timings is Timings timings)
        {
            uint generated = _last.Usage?.GeneratedTokens ?? (uint)_tokenIds.Count;
            double decodeSeconds = timings.TotalSeconds - timings.TimeToFirstTokenSeconds;
            string rate = generated > 1 && decodeSeconds > 0
                ? ((generated - 1) / decodeSeconds).ToString("F1", invariant)
                : timings.TotalSeconds > 0 ? (generated / timings.TotalSeconds).ToString("F1", invariant) : "-";
            await output.WriteLineAsync(
                $"Timings: queue {Show.Milliseconds(timings.QueueSeconds)}, time to first token {Show.Milliseconds(timings.TimeToFirstTokenSeconds)}, " +
                $"total {Show.Milliseconds(timings.TotalSeconds)}, {rate} tokens/s");
            foreach (StageTiming stage in timings.Stages)
            {
                await output.WriteLineAsync(
                    $"  stage {stage.Stage} on {stage.Silo}: compute {Show.Milliseconds(stage.ComputeSeconds)}, " +
                    $"overhead {Show.Milliseconds(stage.OverheadSeconds)}, device idle between steps {Show.Milliseconds(stage.IdleSeconds)} over {timings.Steps} steps");
            }
        }
    }
}
