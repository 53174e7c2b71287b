using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Cluster.Engine.Benchmarks;
using Cluster.Engine.Benchmarks.Profile;

// `profile`: where one decode step's time goes (issue #12); `prefill-profile`: a prefill's; `linear-rows`: which
// product is fastest at which row count; `json-mask`: what JSON mode costs a step; everything else goes to BenchmarkDotNet.
var probes = new Dictionary<string, Action<string[]>>
{
    ["profile"] = DecodeStepProfile.Run,
    ["prefill-profile"] = PrefillProfile.Run,
    ["linear-rows"] = LinearRowsProbe.Run,
    ["json-mask"] = JsonMaskProbe.Run,
};
if (args.Length > 0 && probes.TryGetValue(args[0], out var probe))
{
    probe(args[1..]);
    return;
}

// The engine's module initializer asks libtorch's OpenMP threads to sleep after each op (OpenMpWaitPolicy); it
// must run before the first benchmark's setup loads libtorch.
System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(typeof(Cluster.Engine.Model.Linear).Module.ModuleHandle);

// In-process: TorchSharp's native libraries (patched for this system at build time) live in this output folder.
var config = DefaultConfig.Instance
    .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(10))
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
var summaries = BenchmarkSwitcher.FromAssembly(typeof(DecodeBenchmarks).Assembly).Run(args, config);
DerivedReport.Print(summaries);
