using System.CommandLine;
using Cluster.Contracts.Api;
using Grpc.Net.Client;
using Spectre.Console;

namespace Cluster.LoadTest;

internal static class GatewayCommand
{
    public static Command Create()
    {
        var address = new Option<string>("--address", "-a") { Description = "Gateway address (h2c)", DefaultValueFactory = _ => "http://127.0.0.1:5000" };
        var model = new Option<string>("--model", "-m") { Description = "Model name (empty: the default model)", DefaultValueFactory = _ => "" };
        var options = new LoadOptions();
        var command = new Command("gateway", "Drive Generate against a running gateway at each concurrency level.") { address, model };
        options.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            using var channel = GrpcChannel.ForAddress(parse.GetValue(address)!);
            var client = new Generation.GenerationClient(channel);
            var models = await client.ListModelsAsync(new ListModelsRequest(), cancellationToken: cancellation);
            var name = parse.GetValue(model)!;
            var info = models.Models.FirstOrDefault(m => name.Length == 0 ? m.IsDefault : m.Name == name)
                ?? throw new InvalidOperationException($"Model '{name}' is not served; models: {string.Join(", ", models.Models.Select(m => m.Name))}.");
            var settings = options.Read(parse, (int)info.VocabularySize);
            var load = new GatewayLoad(client, info.Name);
            var results = new List<LevelResult>();
            foreach (var concurrency in settings.Concurrencies)
            {
                AnsiConsole.MarkupLine($"[grey]gateway {info.Name}: concurrency {concurrency}, {settings.RequestsAt(concurrency)} requests...[/]");
                results.Add(await load.RunLevelAsync(settings, concurrency));
            }
            LoadReport.Print(results);
            if (parse.GetValue(options.Json) is { } json)
            {
                LoadReport.WriteJson(json, results);
            }
            return results.Any(r => r.ErrorsByStatus.Count > 0) ? 1 : 0;
        });
        return command;
    }
}
