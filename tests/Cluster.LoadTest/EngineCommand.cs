using System.CommandLine;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Spectre.Console;

namespace Cluster.LoadTest;

internal static class EngineCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "Hugging Face checkpoint directory" };
        var threads = new Option<int?>("--threads") { Description = "Torch CPU threads (unset: one per core)" };
        var options = new LoadOptions();
        var command = new Command("engine", "The baseline: the whole model in this process, each level's streams decoded as one batch.") { checkpoint, threads };
        options.AddTo(command);
        command.SetAction(parse =>
        {
            using var model = ModelShard.Load(parse.GetValue(checkpoint)!, options: new EngineOptions { CpuThreads = parse.GetValue(threads) });
            var settings = options.Read(parse, model.Config.VocabularySize);
            var load = new EngineLoad(model);
            var results = new List<LevelResult>();
            foreach (var concurrency in settings.Concurrencies)
            {
                AnsiConsole.MarkupLine($"[grey]engine: concurrency {concurrency}, {settings.RequestsAt(concurrency)} requests...[/]");
                results.Add(load.RunLevel(settings, concurrency));
            }
            LoadReport.Print(results);
            if (parse.GetValue(options.Json) is { } json)
            {
                LoadReport.WriteJson(json, results);
            }
            return 0;
        });
        return command;
    }
}
