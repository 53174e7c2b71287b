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
        // The silo's Cluster:Stages options of the same names, so a cluster run and this baseline compare like for like.
        var dtype = new Option<string>("--dtype") { Description = "Activations: auto, float32, bfloat16 or float16", DefaultValueFactory = _ => "auto" };
        var weightDType = new Option<string>("--weight-dtype") { Description = "Weight matrices: auto (as --dtype), float32, bfloat16 or int8 (with float32 activations)", DefaultValueFactory = _ => "auto" };
        var kvDType = new Option<string>("--kv-dtype") { Description = "KV cache: auto (as --dtype), float32 or bfloat16", DefaultValueFactory = _ => "auto" };
        var options = new LoadOptions();
        var command = new Command("engine", "The baseline: the whole model in this process, each level's streams decoded as one batch.") { checkpoint, threads, dtype, weightDType, kvDType };
        options.AddTo(command);
        options.RejectForEngine(command);
        command.SetAction(async parse =>
        {
            using var model = ModelShard.Load(parse.GetValue(checkpoint)!, options: new EngineOptions
            {
                CpuThreads = parse.GetValue(threads),
                DType = parse.GetValue(dtype)!,
                WeightDType = parse.GetValue(weightDType)!,
                KvCacheDType = parse.GetValue(kvDType)!,
            });
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
