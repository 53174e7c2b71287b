using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Cluster.LoadTest;

internal static class OpenAiCommand
{
    public static Command Create()
    {
        var address = new Option<string>("--address", "-a") { Description = "Base URL of the OpenAI-compatible API", DefaultValueFactory = _ => "http://127.0.0.1:8000/v1" };
        var model = new Option<string>("--model", "-m") { Description = "Model name (empty: the first one /v1/models lists)", DefaultValueFactory = _ => "" };
        var apiKey = new Option<string?>("--api-key")
        {
            Description = "API key, sent as 'Authorization: Bearer <key>' (default: $CLUSTER_API_KEY; none: no header)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CLUSTER_API_KEY"),
        };
        var chat = new Option<bool>("--chat") { Description = "Send each prompt as a user message to /v1/chat/completions (needs --prompts-file) instead of /v1/completions" };
        var vocabulary = new Option<int?>("--vocabulary-size")
        {
            Description = "The model's vocabulary size, for prompts of random token ids (the OpenAI API does not list it); give the number the gateway target prints to send the same prompts",
        };
        var options = new LoadOptions();
        var command = new Command("openai", "Drive streamed completions (or chat completions) against an OpenAI-compatible API at each concurrency or request rate.")
        {
            address, model, apiKey, chat, vocabulary,
        };
        options.AddTo(command);
        command.Validators.Add(result =>
        {
            var textPrompts = result.GetValue(options.PromptsFile) is not null;
            if (result.GetValue(chat) && !textPrompts)
            {
                result.AddError("--chat sends text: give --prompts-file.");
            }
            if (!textPrompts && result.GetValue(vocabulary) is not > 1)
            {
                result.AddError("Prompts of random token ids need --vocabulary-size (the model's, > 1); or give --prompts-file.");
            }
        });
        command.SetAction(async (parse, cancellation) =>
        {
            var baseAddress = parse.GetValue(address)!.TrimEnd('/') + "/";
            using var http = new HttpClient { BaseAddress = new Uri(baseAddress), Timeout = Timeout.InfiniteTimeSpan };
            if (parse.GetValue(apiKey) is { Length: > 0 } key)
            {
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            }
            string[] served;
            try
            {
                var list = await http.GetFromJsonAsync<JsonObject>("models", cancellation);
                served = [.. list!["data"]!.AsArray().Select(m => (string)m!["id"]!)];
            }
            catch (HttpRequestException e)
            {
                // Unreachable, or refused (no or wrong --api-key): say so instead of a stack trace.
                await Console.Error.WriteLineAsync($"error: GET {baseAddress}models failed: {(e.StatusCode is { } status ? $"HTTP {(int)status}" : e.Message)}");
                return 2;
            }
            var name = parse.GetValue(model)!;
            if (name.Length == 0 ? served.Length == 0 : !served.Contains(name))
            {
                await Console.Error.WriteLineAsync($"error: model '{name}' is not served at {baseAddress}; models: {string.Join(", ", served)}.");
                return 2;
            }
            name = name.Length == 0 ? served[0] : name;
            var settings = options.Read(parse, parse.GetValue(vocabulary) ?? 0);
            var load = new OpenAiLoad(http, name, parse.GetValue(chat));
            var results = new List<LevelResult>();
            foreach (var level in settings.Levels)
            {
                results.Add(await LoadProgress.RunAsync($"{load.Target} {name}: {level}", settings.RequestsAt(level),
                    progress => load.RunLevelAsync(settings, level, progress, cancellation)));
            }
            LoadReport.Print(results);
            options.WriteOutputs(parse, results);
            return results.Any(r => r.ErrorsByStatus.Count > 0) ? 1 : 0;
        });
        return command;
    }
}
