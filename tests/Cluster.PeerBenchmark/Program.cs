using System.Text.Json;
using Cluster.PeerBenchmark.Benchmark;

// llama.cpp and our engine on the same weights in one run (issue #12): see PeerBenchmarkRun.
if (args.Length > 0 && args[0] == Cluster.PeerBenchmark.Runners.PeerServer.Command)
{
    return Cluster.PeerBenchmark.Runners.PeerServer.Serve(args[1..]); // the child side of ChildProcessRunner
}

PeerBenchmarkOptions options;
try
{
    options = PeerBenchmarkOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

PeerReport report;
try
{
    report = new PeerBenchmarkRun(options, Console.Error).Execute();
}
catch (TokenMismatchException e)
{
    Console.Error.WriteLine($"MISMATCH: {e.Message}");
    return 1;
}

Console.WriteLine(MarkdownTable.Render(report));
if (options.JsonPath is { } path)
{
    File.WriteAllText(path, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
    Console.Error.WriteLine($"wrote {path}");
}
return 0;
