using System.Text.RegularExpressions;
using Cluster.Testing;

namespace Cluster.Deployment.Tests;

/// <summary>
/// The silo and gateway Dockerfiles: they parse, stages and COPY --from refer to what exists, every file they COPY
/// is in the build context (exists, not excluded by .dockerignore), the restore step has every project file it needs,
/// the entry point runs the assembly the project builds, and the GLIBCXX rule for TorchSharp holds.
/// </summary>
public class DockerfileTests
{
    public const string SiloDockerfile = "silo/Cluster.Silo/Dockerfile";
    public const string GatewayDockerfile = "gateway/Cluster.Gateway/Dockerfile";
    public const string SiloProject = "silo/Cluster.Silo/Cluster.Silo.csproj";
    public const string GatewayProject = "gateway/Cluster.Gateway/Cluster.Gateway.csproj";

    public static TheoryData<string, string> Images => new()
    {
        { SiloDockerfile, SiloProject },
        { GatewayDockerfile, GatewayProject },
    };

    [Theory]
    [MemberData(nameof(Images))]
    public void Dockerfile_parses_and_its_stages_are_consistent(string dockerfile, string project)
    {
        var df = new Dockerfile(RepositoryRoot.PathOf(dockerfile));
        var problems = new Problems();
        problems.Check(File.Exists(RepositoryRoot.PathOf(project)), dockerfile, $"builds {project}, which does not exist");
        foreach (var e in df.Errors) problems.Add(dockerfile, e);
        var declaredGlobal = df.GlobalArgDefaults();
        foreach (var stage in df.Stages)
        {
            var where = $"{dockerfile}: stage '{stage.Name ?? stage.Index.ToString()}'";
            // FROM ${X}: X must be a global ARG with a default (else the build needs --build-arg to even start).
            foreach (Match m in Regex.Matches(stage.BaseImage, @"\$\{?([A-Za-z_][A-Za-z0-9_]*)"))
                problems.Check(declaredGlobal.TryGetValue(m.Groups[1].Value, out var v) && v is not null, where,
                    $"FROM uses ${m.Groups[1].Value}, which no ARG before the first FROM declares with a default");
            var baseImage = df.ExpandGlobal(stage.BaseImage);
            var earlier = df.Stages.Take(stage.Index).Select(s => s.Name).ToHashSet();
            problems.Check(earlier.Contains(baseImage) || Regex.IsMatch(baseImage, @"^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$")
                && baseImage.Contains(':'), where, $"FROM '{baseImage}' is neither an earlier stage nor an image with an explicit tag");
            var stageArgs = stage.Instructions.Where(i => i.Keyword == "ARG").Select(Dockerfile.ArgName).ToHashSet();
            foreach (var ins in stage.Instructions)
            {
                var at = $"{where}, line {ins.Line} ({ins.Keyword})";
                if (ins.Keyword is "COPY" or "ADD" && ins.Flags.TryGetValue("from", out var from))
                {
                    var expanded = df.ExpandGlobal(from);
                    problems.Check(earlier.Contains(expanded) || expanded.Contains(':'), at,
                        $"COPY --from={from} names no earlier stage (and is not an image reference with a tag)");
                }
                if (ins.Keyword is "RUN" or "ENV" or "WORKDIR" or "COPY")
                    foreach (Match m in Regex.Matches(ins.Args, @"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"))
                        problems.Check(stageArgs.Contains(m.Groups[1].Value), at,
                            $"uses ${{{m.Groups[1].Value}}} but the stage declares no ARG {m.Groups[1].Value} (global ARGs are not visible inside a stage without a re-declaration)");
                if (ins.Keyword is "ENTRYPOINT" or "CMD")
                    problems.Check(ins.ExecForm() is not null, at, "use the exec form ([\"dotnet\", \"x.dll\"]) so the process gets SIGTERM directly (graceful Orleans shutdown)");
            }
        }
        problems.Check(df.Stages.Count >= 2, dockerfile, "expected a multi-stage build (SDK build stage, runtime stage)");
        problems.AssertNone(dockerfile);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Every_copied_source_is_in_the_build_context(string dockerfile, string project)
    {
        var df = new Dockerfile(RepositoryRoot.PathOf(dockerfile));
        var ignore = DockerIgnore.Load();
        var problems = new Problems();
        problems.Check(!ignore.Excludes(project), dockerfile, $".dockerignore excludes {project}");
        foreach (var stage in df.Stages)
            foreach (var ins in stage.Instructions.Where(i => i.Keyword is "COPY" or "ADD" && !i.Flags.ContainsKey("from")))
            {
                var words = ins.ExecForm() ?? ins.Words;
                foreach (var source in words[..^1])
                {
                    var at = $"{dockerfile}, line {ins.Line}: COPY {source}";
                    var path = RepositoryRoot.PathOf(source.TrimEnd('/'));
                    problems.Check(File.Exists(path) || Directory.Exists(path), at, "does not exist in the build context (the repository root)");
                    problems.Check(!ignore.Excludes(source), at, ".dockerignore excludes it, so the build would not see it");
                }
            }
        problems.AssertNone(dockerfile);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Restore_step_sees_every_project_and_build_file_and_the_entry_point_runs_the_built_assembly(string dockerfile, string project)
    {
        var df = new Dockerfile(RepositoryRoot.PathOf(dockerfile));
        var problems = new Problems();
        var build = df.Stages.FirstOrDefault(s => s.Instructions.Any(i => i.Keyword == "RUN" && i.Args.Contains("dotnet publish")));
        if (build is null) { Assert.Fail($"{dockerfile}: no stage runs 'dotnet publish'"); return; }
        var where = $"{dockerfile}: stage '{build.Name}'";
        problems.Check(df.ExpandGlobal(build.BaseImage).StartsWith("mcr.microsoft.com/dotnet/sdk:10.0"), where,
            $"builds on '{build.BaseImage}', expected the .NET 10 SDK image (global.json pins SDK 10)");
        var restore = build.Instructions.FindIndex(i => i.Keyword == "RUN" && i.Args.Contains("dotnet restore"));
        problems.Check(restore >= 0, where, "no 'dotnet restore' step (restore before copying sources keeps the package layer cached)");
        var publish = build.Instructions.First(i => i.Keyword == "RUN" && i.Args.Contains("dotnet publish"));
        problems.Check(publish.Args.Contains(project), $"{where}, line {publish.Line}", $"'dotnet publish' does not publish {project}");
        if (restore >= 0)
        {
            // Files copied before the restore: each csproj of the closure and the repository-wide build files.
            var copied = build.Instructions.Take(restore).Where(i => i.Keyword == "COPY" && !i.Flags.ContainsKey("from"))
                .SelectMany(i => (i.ExecForm() ?? i.Words)[..^1]).Select(s => s.TrimEnd('/')).ToList();
            bool Covered(string file) => copied.Any(c => file == c || file.StartsWith(c + "/"));
            var needed = Projects.Closure(project).Concat(["global.json", "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "build/TorchSharpGlibcxxFix.targets"]);
            foreach (var file in needed)
                problems.Check(Covered(file), $"{where}, line {build.Instructions[restore].Line}", $"'dotnet restore' runs before {file} is copied in (restore would fail or restore the wrong packages)");
            problems.Check(build.Instructions[restore].Args.Contains(project), $"{where}, line {build.Instructions[restore].Line}", $"'dotnet restore' does not restore {project}");
        }
        var runtimeStages = df.Stages.Where(s => s.Instructions.Any(i => i.Keyword == "ENTRYPOINT")).ToList();
        problems.Check(runtimeStages.Count > 0, dockerfile, "no stage has an ENTRYPOINT");
        problems.Check(df.Stages[^1].Instructions.Any(i => i.Keyword == "ENTRYPOINT"), dockerfile,
            $"the last stage ('{df.Stages[^1].Name}', the default target) has no ENTRYPOINT");
        var dll = Projects.AssemblyName(project) + ".dll";
        foreach (var stage in runtimeStages)
        {
            var at = $"{dockerfile}: stage '{stage.Name}'";
            var entry = stage.Instructions.Last(i => i.Keyword == "ENTRYPOINT");
            var exec = entry.ExecForm() ?? [];
            problems.Check(exec.SequenceEqual(["dotnet", dll]), $"{at}, line {entry.Line}",
                $"ENTRYPOINT is [{string.Join(", ", exec)}], expected [dotnet, {dll}] ({project} builds {dll})");
            problems.Check(stage.Instructions.Any(i => i.Keyword == "COPY" && i.Flags.TryGetValue("from", out var f) && f == build.Name),
                at, $"does not COPY --from={build.Name} (the published application)");
            var user = stage.Instructions.LastOrDefault(i => i.Keyword == "USER");
            problems.Check(user is not null && user.Args is not ("root" or "0"), at, "runs as root: add USER (the .NET images' app user is 1654)");
            problems.Check(stage.Instructions.Any(i => i.Keyword == "EXPOSE" && i.Words.Contains("9090")), at,
                "does not EXPOSE 9090 (the /metrics and /healthz port)");
        }
        problems.AssertNone(dockerfile);
    }

    [Fact]
    public void Silo_image_builds_either_torch_device_and_handles_the_glibcxx_requirement()
    {
        var df = new Dockerfile(RepositoryRoot.PathOf(SiloDockerfile));
        var problems = new Problems();
        var build = df.Stages.First(s => s.Instructions.Any(i => i.Args.Contains("dotnet publish")));
        var torchArg = build.Instructions.FirstOrDefault(i => i.Keyword == "ARG" && Dockerfile.ArgName(i) == "TORCH_DEVICE");
        problems.Check(torchArg is not null, SiloDockerfile, "the build stage declares no ARG TORCH_DEVICE (the -p:TorchDevice switch)");
        foreach (var step in build.Instructions.Where(i => i.Keyword == "RUN" && Regex.IsMatch(i.Args, "dotnet (restore|publish)")))
            problems.Check(step.Args.Contains("-p:TorchDevice=${TORCH_DEVICE}"), $"{SiloDockerfile}, line {step.Line}",
                "restore and publish must both pass -p:TorchDevice=${TORCH_DEVICE} (else restore and build disagree on the TorchSharp package)");
        problems.Check(df.StageNamed("cuda") is not null, SiloDockerfile, "no 'cuda' stage (the GPU image target)");
        var cuda = df.StageNamed("cuda");
        if (cuda is not null)
            problems.Check(df.ExpandGlobal(cuda.BaseImage).Contains("cuda"), $"{SiloDockerfile}: stage 'cuda'", $"base '{df.ExpandGlobal(cuda.BaseImage)}' is not a CUDA image");
        problems.Check(df.Stages[^1].Name == "cpu", SiloDockerfile, "the last stage (the default target) should be the CPU image 'cpu'");
        // libLibTorchSharp.so needs GLIBCXX_3.4.32: Ubuntu 24.04 ("noble") has it; anything else needs the build-time
        // fix (build/TorchSharpGlibcxxFix.targets), which needs g++ and patchelf in the build stage.
        var runtimeBases = df.Stages.Where(s => s.Instructions.Any(i => i.Keyword == "ENTRYPOINT")).Select(s => df.ExpandGlobal(s.BaseImage)).ToList();
        var buildBase = df.ExpandGlobal(build.BaseImage);
        bool Noble(string image) => image.Contains("noble") || image.Contains("ubuntu24.04");
        if (!runtimeBases.All(Noble) || !Noble(buildBase))
            problems.Check(build.Instructions.Any(i => i.Keyword == "RUN" && i.Args.Contains("g++") && i.Args.Contains("patchelf")),
                $"{SiloDockerfile}: stage '{build.Name}'",
                $"build or runtime base is not Ubuntu 24.04 ({buildBase}; {string.Join(", ", runtimeBases)}): install g++ and patchelf for the GLIBCXX fix, or use -noble images");
        problems.AssertNone(SiloDockerfile);
    }

    [Fact]
    public void Gateway_image_carries_no_torchsharp()
    {
        var problems = new Problems();
        foreach (var p in Projects.Closure(GatewayProject))
            foreach (var package in Projects.PackageReferences(p))
                problems.Check(!package.StartsWith("TorchSharp", StringComparison.OrdinalIgnoreCase) && !package.StartsWith("libtorch"),
                    p, $"references {package}: the gateway image must stay free of TorchSharp/libtorch (~600 MB)");
        var df = new Dockerfile(RepositoryRoot.PathOf(GatewayDockerfile));
        foreach (var ins in df.Stages.SelectMany(s => s.Instructions).Where(i => i.Keyword == "COPY"))
            problems.Check(!ins.Args.Contains("silo/"), $"{GatewayDockerfile}, line {ins.Line}", "copies silo sources into the gateway build");
        problems.AssertNone(GatewayDockerfile);
    }
}
