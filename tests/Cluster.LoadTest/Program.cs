using System.CommandLine;
using Cluster.LoadTest;

var root = new RootCommand("Load-tests the cluster (or the engine alone, as the baseline) and reports like vLLM's serving benchmark.");
root.Subcommands.Add(GatewayCommand.Create());
root.Subcommands.Add(OpenAiCommand.Create());
root.Subcommands.Add(EngineCommand.Create());
return await root.Parse(args).InvokeAsync();
