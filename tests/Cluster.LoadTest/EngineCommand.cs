using System.CommandLine;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;

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
        options.RejectForEngine(command);
        command.SetAction(async parse =>
        {
            using var model = ModelShard.Load(parse.GetValue(checkpoint)!, options: new EngineOptions { CpuThreads = parse.GetValue(threads) });
            var settings = options.Read(parse, model.Config.VocabularySize);
            var load = new EngineLoad(model);
            var results = new List<LevelResult>();
            foreach (var level in settings.Levels)
            {
                var concurrency = level.Concurrency!.Value;
                // Each level's batches run on one thread (dispose scopes are per thread) while the progress display refreshes.
                results.Add(await LoadProgress.RunAsync($"engine: {level}", settings.RequestsAt(level),
                    progress => Task.Factory.StartNew(() => load.RunLevel(settings, concurrency, progress), TaskCreationOptions.LongRunning)));
            }
            LoadReport.Print(results);
            options.WriteOutputs(parse, results);
            return 0;
        });
        return command;
    }
}
