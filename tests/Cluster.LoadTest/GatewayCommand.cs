using System.CommandLine;
using Cluster.Contracts.Api;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace Cluster.LoadTest;

internal static class GatewayCommand
{
    public static Command Create()
    {
        var address = new Option<string>("--address", "-a") { Description = "Gateway address (h2c)", DefaultValueFactory = _ => "http://127.0.0.1:5000" };
        var model = new Option<string>("--model", "-m") { Description = "Model name (empty: the default model)", DefaultValueFactory = _ => "" };
        var apiKey = new Option<string?>("--api-key")
        {
            Description = "API key, sent as 'authorization: Bearer <key>' (default: $CLUSTER_API_KEY; none: no header)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CLUSTER_API_KEY"),
        };
        var options = new LoadOptions();
        var command = new Command("gateway", "Drive Generate against a running gateway at each concurrency or request rate.") { address, model, apiKey };
        options.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            using var channel = GrpcChannel.ForAddress(parse.GetValue(address)!);
            var key = parse.GetValue(apiKey);
            var client = new Generation.GenerationClient(string.IsNullOrEmpty(key)
                ? channel.CreateCallInvoker()
                : channel.Intercept(headers =>
                {
                    headers.Add("authorization", $"Bearer {key}");
                    return headers;
                }));
            ListModelsResponse models;
            try
            {
                models = await client.ListModelsAsync(new ListModelsRequest(), cancellationToken: cancellation);
            }
            catch (RpcException e)
            {
                // Unreachable, or refused (no or wrong --api-key): say so instead of a stack trace.
                await Console.Error.WriteLineAsync($"error: ListModels on {parse.GetValue(address)} failed: {e.StatusCode}: {e.Status.Detail}");
                return 2;
            }
            var name = parse.GetValue(model)!;
            var info = models.Models.FirstOrDefault(m => name.Length == 0 ? m.IsDefault : m.Name == name)
                ?? throw new InvalidOperationException($"Model '{name}' is not served; models: {string.Join(", ", models.Models.Select(m => m.Name))}.");
            var settings = options.Read(parse, (int)info.VocabularySize);
            var load = new GatewayLoad(client, info.Name);
            var results = new List<LevelResult>();
            foreach (var level in settings.Levels)
            {
                results.Add(await LoadProgress.RunAsync($"gateway {info.Name}: {level}", settings.RequestsAt(level),
                    progress => load.RunLevelAsync(settings, level, progress, cancellation)));
            }
            LoadReport.Print(results);
            options.WriteOutputs(parse, results);
            return results.Any(r => r.ErrorsByStatus.Count > 0) ? 1 : 0;
        });
        return command;
    }
}
