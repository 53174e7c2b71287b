using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Cluster.Testing;

namespace Cluster.Deployment.Tests;

/// <summary>
/// docker-compose.yml (+ the GPU override) and the observability configs it mounts: the keys are compose-spec keys,
/// every reference resolves (build contexts, Dockerfiles and their targets/args, depends_on, volumes, bind sources),
/// ports and environment are well-formed, and the processes agree on the cluster settings and reach real services.
/// </summary>
public class ComposeTests
{
    const string ComposeFile = "docker-compose.yml";
    const string GpuOverride = "docker-compose.gpu.yml";

    // Top-level and service keys of the compose specification (services' less common keys included).
    static readonly HashSet<string> TopKeys = ["version", "name", "services", "volumes", "networks", "configs", "secrets", "include"];
    static readonly HashSet<string> ServiceKeys =
    [
        "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes", "depends_on",
        "healthcheck", "restart", "deploy", "hostname", "container_name", "networks", "labels", "profiles",
        "stop_grace_period", "stop_signal", "user", "working_dir", "ulimits", "shm_size", "ipc", "cap_add", "cap_drop",
        "logging", "extra_hosts", "init", "tmpfs", "configs", "secrets", "gpus", "runtime", "platform", "pull_policy",
        "read_only", "security_opt", "sysctls", "mem_limit", "cpus", "scale", "attach", "develop", "tty", "stdin_open",
    ];
    static readonly HashSet<string> BuildKeys = ["context", "dockerfile", "args", "target", "cache_from", "cache_to", "labels", "network", "platforms", "secrets", "ssh", "tags", "shm_size", "pull", "no_cache", "additional_contexts"];
    static readonly HashSet<string> HealthKeys = ["test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"];
    static readonly HashSet<string> Conditions = ["service_started", "service_healthy", "service_completed_successfully"];

    static JsonObject Load(string file) =>
        Yaml.Load(RepositoryRoot.PathOf(file)) as JsonObject ?? throw new InvalidOperationException($"{file}: not a mapping");

    /// <summary>${VAR:-default} / ${VAR-default} take the default; ${VAR} without one is an error for these files.</summary>
    static string Interpolate(string value, Problems problems, string where) =>
        Regex.Replace(value, @"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\}", m =>
        {
            if (m.Groups[2].Success) return m.Groups[3].Value;
            problems.Add(where, $"${{{m.Groups[1].Value}}} has no default: the file only works with that variable set");
            return "";
        });

    static IEnumerable<string> DependsOn(JsonNode? service) => service?["depends_on"] switch
    {
        JsonArray a => a.Select(n => n!.GetValue<string>()),
        JsonObject o => o.Select(p => p.Key),
        _ => [],
    };

    static Dictionary<string, string?> Environment(JsonNode? service) => service?["environment"] switch
    {
        JsonObject o => o.ToDictionary(p => p.Key, p => p.Value?.ToString()),
        JsonArray a => a.Select(n => n!.GetValue<string>().Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : null),
        _ => [],
    };

    static void CheckFile(JsonObject doc, string file, Problems problems, JsonObject? baseDoc)
    {
        foreach (var key in doc.Select(p => p.Key))
            problems.Check(TopKeys.Contains(key) || key.StartsWith("x-"), file, $"unknown top-level key '{key}' (compose-spec allows {string.Join(", ", TopKeys)} and x-* extensions)");
        var services = doc.Obj("services");
        if (services is null) { problems.Add(file, "no 'services'"); return; }
        var known = services.Select(p => p.Key).Concat(baseDoc?.Obj("services")?.Select(p => p.Key) ?? []).ToHashSet();
        var declaredVolumes = (doc.Obj("volumes")?.Select(p => p.Key) ?? []).Concat(baseDoc?.Obj("volumes")?.Select(p => p.Key) ?? []).ToHashSet();
        foreach (var (name, node) in services)
        {
            var where = $"{file}: services.{name}";
            if (node is not JsonObject service) { problems.Add(where, "not a mapping"); continue; }
            problems.Check(Regex.IsMatch(name, "^[a-zA-Z0-9._-]+$"), where, "invalid service name");
            foreach (var key in service.Select(p => p.Key))
                problems.Check(ServiceKeys.Contains(key) || key.StartsWith("x-"), where, $"unknown key '{key}'");
            if (baseDoc is null)
                problems.Check(service["image"] is not null || service["build"] is not null, where, "has neither 'image' nor 'build'");

            if (service["build"] is JsonObject build)
            {
                foreach (var key in build.Select(p => p.Key))
                    problems.Check(BuildKeys.Contains(key), $"{where}.build", $"unknown key '{key}'");
                var context = RepositoryRoot.PathOf(build.Str("context") ?? ".");
                problems.Check(Directory.Exists(context), $"{where}.build.context", $"'{build.Str("context")}' is not a folder");
                var dockerfilePath = Path.Combine(context, build.Str("dockerfile") ?? "Dockerfile");
                if (!File.Exists(dockerfilePath)) { problems.Add($"{where}.build.dockerfile", $"'{build.Str("dockerfile")}' does not exist"); }
                else
                {
                    var df = new Dockerfile(dockerfilePath);
                    if (build.Str("target") is { } target)
                        problems.Check(df.StageNamed(target) is not null, $"{where}.build.target", $"'{target}' is no stage of {RepositoryRoot.Relative(dockerfilePath)} (stages: {string.Join(", ", df.Stages.Select(s => s.Name))})");
                    var args = df.GlobalArgs.Concat(df.Stages.SelectMany(s => s.Instructions)).Where(i => i.Keyword == "ARG").Select(Dockerfile.ArgName).ToHashSet();
                    foreach (var arg in build.Obj("args")?.Select(p => p.Key) ?? [])
                        problems.Check(args.Contains(arg), $"{where}.build.args.{arg}", $"{RepositoryRoot.Relative(dockerfilePath)} declares no ARG {arg} (the value would be ignored)");
                }
            }
            else if (service["build"] is not null) problems.Add($"{where}.build", "use the long form (context, dockerfile)");

            if (service["image"] is { } image)
                problems.Check(image.IsString() && Regex.IsMatch(image.GetValue<string>(), @"^[a-z0-9./_-]+:[A-Za-z0-9._-]+$"), $"{where}.image", $"'{image}' needs an explicit tag");

            foreach (var dep in DependsOn(service))
            {
                problems.Check(known.Contains(dep), $"{where}.depends_on", $"'{dep}' is no service");
                problems.Check(dep != name, $"{where}.depends_on", "depends on itself");
            }
            if (service["depends_on"] is JsonObject depMap)
                foreach (var (dep, spec) in depMap)
                {
                    var condition = spec.Str("condition") ?? "service_started";
                    problems.Check(Conditions.Contains(condition), $"{where}.depends_on.{dep}.condition", $"'{condition}' is not one of {string.Join(", ", Conditions)}");
                    var target = services[dep] ?? baseDoc?.Obj("services")?[dep];
                    if (condition == "service_healthy")
                        problems.Check(target?["healthcheck"] is JsonObject, $"{where}.depends_on.{dep}", $"waits for '{dep}' to be healthy but '{dep}' has no healthcheck (it would never start)");
                }

            if (service["healthcheck"] is JsonObject health)
            {
                foreach (var key in health.Select(p => p.Key))
                    problems.Check(HealthKeys.Contains(key), $"{where}.healthcheck", $"unknown key '{key}'");
                var test = health["test"] as JsonArray;
                problems.Check(test is { Count: > 1 } && test[0]?.ToString() is "CMD" or "CMD-SHELL" or "NONE", $"{where}.healthcheck.test", "must be a list starting with CMD or CMD-SHELL");
                foreach (var key in new[] { "interval", "timeout", "start_period" })
                    if (health.Str(key) is { } d)
                        problems.Check(Regex.IsMatch(d, @"^(\d+(ns|us|ms|s|m|h))+$"), $"{where}.healthcheck.{key}", $"'{d}' is not a duration");
            }

            foreach (var port in service.Arr("ports"))
            {
                var text = port?.ToString() ?? "";
                problems.Check(port.IsString() && Regex.IsMatch(text, @"^(\d{1,5}:)?\d{1,5}(/(tcp|udp))?$"), $"{where}.ports",
                    $"'{text}' must be a quoted \"host:container\" string (unquoted a:b can parse as a base-60 number in YAML 1.1)");
            }

            foreach (var (key, value) in Environment(service))
            {
                problems.Check(Regex.IsMatch(key, "^[A-Za-z_][A-Za-z0-9_]*$"), $"{where}.environment", $"'{key}' is not a valid variable name (.NET configuration uses '__' for ':')");
                problems.Check(!key.Contains(':'), $"{where}.environment", $"'{key}': use '__' instead of ':'");
            }
            if (service["environment"] is JsonObject env)
                foreach (var (key, value) in env)
                    problems.Check(value is null || value.IsString(), $"{where}.environment.{key}", $"value {value} is not a string: quote it (compose rejects booleans, and numbers only work by accident)");

            foreach (var volume in service.Arr("volumes"))
            {
                string? source, type;
                if (volume is JsonObject v) { source = v.Str("source"); type = v.Str("type"); problems.Check(v.Str("target")?.StartsWith('/') == true, $"{where}.volumes", $"target '{v.Str("target")}' must be an absolute path"); }
                else
                {
                    var parts = volume!.GetValue<string>().Split(':');
                    source = parts[0];
                    type = source.StartsWith('.') || source.StartsWith('/') || source.StartsWith('$') ? "bind" : "volume";
                    problems.Check(parts.Length >= 2 && parts[1].StartsWith('/'), $"{where}.volumes", $"'{volume}' needs source:/absolute/target");
                }
                if (source is null) continue;
                if (type == "bind")
                {
                    var resolved = Interpolate(source, problems, $"{where}.volumes");
                    var full = RepositoryRoot.PathOf(resolved);
                    problems.Check(File.Exists(full) || Directory.Exists(full), $"{where}.volumes", $"bind source '{source}' ({resolved}) does not exist: docker would create an empty folder in its place");
                }
                else if (type == "volume")
                    problems.Check(declaredVolumes.Contains(source), $"{where}.volumes", $"named volume '{source}' is not declared under top-level 'volumes'");
            }
        }
    }

    [Fact]
    public void Compose_file_is_well_formed_and_every_reference_resolves()
    {
        var problems = new Problems();
        CheckFile(Load(ComposeFile), ComposeFile, problems, null);
        problems.AssertNone(ComposeFile);
    }

    [Fact]
    public void Gpu_override_targets_the_cuda_image_and_reserves_gpus_for_existing_silos()
    {
        var problems = new Problems();
        var baseDoc = Load(ComposeFile);
        var gpu = Load(GpuOverride);
        CheckFile(gpu, GpuOverride, problems, baseDoc);
        var baseServices = baseDoc.Obj("services")!;
        foreach (var (name, service) in gpu.Obj("services") ?? [])
        {
            var where = $"{GpuOverride}: services.{name}";
            problems.Check(baseServices.ContainsKey(name), where, $"overrides '{name}', which {ComposeFile} does not define");
            problems.Check(service.At("build.target")?.ToString() == "cuda" && service.At("build.args.TORCH_DEVICE")?.ToString() == "cuda", $"{where}.build",
                "must build target 'cuda' with TORCH_DEVICE=cuda (-p:TorchDevice=cuda)");
            var devices = service.At("deploy.resources.reservations.devices") as JsonArray;
            problems.Check(devices?.OfType<JsonObject>().Any(d => d.Str("driver") == "nvidia" && d.Arr("capabilities").Any(c => c?.ToString() == "gpu")) == true,
                $"{where}.deploy.resources.reservations.devices", "reserves no NVIDIA GPU");
            problems.Check(service.At("environment.Cluster__Stages__Device")?.ToString() == "cuda", $"{where}.environment", "Cluster__Stages__Device must be cuda");
        }
        var silos = baseServices.Where(p => p.Value.At("build.dockerfile")?.ToString() == DockerfileTests.SiloDockerfile).Select(p => p.Key);
        foreach (var silo in silos)
            problems.Check(gpu.Obj("services")?.ContainsKey(silo) == true, GpuOverride, $"silo '{silo}' of {ComposeFile} is not switched to the GPU image");
        problems.AssertNone(GpuOverride);
    }

    [Fact]
    public void Compose_runs_redis_two_silos_a_gateway_and_the_observability_stack_with_matching_settings()
    {
        var problems = new Problems();
        var services = Load(ComposeFile).Obj("services")!;
        var names = services.Select(p => p.Key).ToHashSet();
        var silos = services.Where(p => p.Value.At("build.dockerfile")?.ToString() == DockerfileTests.SiloDockerfile).ToList();
        var gateways = services.Where(p => p.Value.At("build.dockerfile")?.ToString() == DockerfileTests.GatewayDockerfile).ToList();
        problems.Check(silos.Count >= 2, ComposeFile, $"{silos.Count} silo service(s) built from {DockerfileTests.SiloDockerfile}; need at least 2");
        problems.Check(gateways.Count == 1, ComposeFile, $"{gateways.Count} gateway services built from {DockerfileTests.GatewayDockerfile}; need 1");
        foreach (var (image, what) in new[] { ("redis", "Redis"), ("opentelemetry-collector", "an OpenTelemetry collector"), ("jaeger", "Jaeger"), ("prometheus", "Prometheus") })
            problems.Check(services.Any(p => p.Value.Str("image")?.Contains(image) == true), ComposeFile, $"no service runs {what} (image containing '{image}')");

        string? Host(string? endpoint) => endpoint is null ? null : Regex.Match(endpoint, @"^(?:[a-z]+://)?([^:/,]+)").Groups[1].Value;
        var processes = silos.Concat(gateways).ToList();
        var first = Environment(processes.FirstOrDefault().Value);
        foreach (var (name, service) in processes)
        {
            var where = $"{ComposeFile}: services.{name}.environment";
            var env = Environment(service);
            foreach (var key in new[] { "Cluster__Redis", "Cluster__ClusterId", "Cluster__ServiceId", "Cluster__Models__0__Name", "Cluster__Models__0__Path", "Cluster__Models__0__Stages", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME" })
                problems.Check(env.ContainsKey(key), where, $"{key} is not set");
            foreach (var key in new[] { "Cluster__Redis", "Cluster__ClusterId", "Cluster__ServiceId", "Cluster__Models__0__Name", "Cluster__Models__0__Path", "Cluster__Models__0__Stages" })
                problems.Check(env.GetValueOrDefault(key) == first.GetValueOrDefault(key), $"{where}.{key}",
                    $"'{env.GetValueOrDefault(key)}' differs from '{first.GetValueOrDefault(key)}' on the other processes (silos and gateway must agree)");
            problems.Check(names.Contains(Host(env.GetValueOrDefault("Cluster__Redis")) ?? ""), $"{where}.Cluster__Redis", $"host of '{env.GetValueOrDefault("Cluster__Redis")}' is no service");
            problems.Check(names.Contains(Host(env.GetValueOrDefault("OTEL_EXPORTER_OTLP_ENDPOINT")) ?? ""), $"{where}.OTEL_EXPORTER_OTLP_ENDPOINT", $"host of '{env.GetValueOrDefault("OTEL_EXPORTER_OTLP_ENDPOINT")}' is no service");
            // The model path must lie inside a mounted volume that holds the checkpoint on the host.
            var modelPath = env.GetValueOrDefault("Cluster__Models__0__Path") ?? "";
            var mount = service.Arr("volumes").OfType<JsonObject>().FirstOrDefault(v => modelPath.StartsWith(v.Str("target") + "/"));
            problems.Check(mount is not null, $"{where}.Cluster__Models__0__Path", $"'{modelPath}' is under no mounted volume");
            if (mount is not null)
            {
                var hostDir = Interpolate(mount.Str("source")!, new Problems(), "") + modelPath[mount.Str("target")!.Length..];
                problems.Check(File.Exists(Path.Combine(RepositoryRoot.PathOf(hostDir), "config.json")), $"{where}.Cluster__Models__0__Path",
                    $"maps to {hostDir} on the host, which holds no config.json (no checkpoint)");
            }
        }
        problems.AssertNone(ComposeFile);
    }

    [Fact]
    public void Observability_configs_are_consistent_with_compose()
    {
        var problems = new Problems();
        var services = Load(ComposeFile).Obj("services")!;
        var names = services.Select(p => p.Key).ToHashSet();
        var collectorService = services.First(p => p.Value.Str("image")?.Contains("opentelemetry-collector") == true);
        var configMount = collectorService.Value.Arr("volumes").Select(v => v!.ToString().Split(':')).FirstOrDefault(p => p[0].EndsWith(".yaml"));
        if (configMount is null) { Assert.Fail($"{ComposeFile}: services.{collectorService.Key} mounts no collector config"); return; }
        var collectorFile = configMount[0].TrimStart('.', '/');
        var command = string.Join(" ", collectorService.Value.Arr("command").Select(c => c!.ToString()));
        problems.Check(command.Contains(configMount[1]), $"{ComposeFile}: services.{collectorService.Key}.command", $"does not point --config at the mounted {configMount[1]}");

        var collector = Yaml.Load(RepositoryRoot.PathOf(collectorFile));
        foreach (var (pipeline, spec) in collector.At("service.pipelines") as JsonObject ?? [])
            foreach (var section in new[] { "receivers", "processors", "exporters" })
                foreach (var component in spec.Arr(section))
                    problems.Check(collector.Obj(section)?.ContainsKey(component!.ToString()) == true, $"{collectorFile}: service.pipelines.{pipeline}.{section}",
                        $"'{component}' is not defined under top-level '{section}'");
        foreach (var (exporter, spec) in collector.Obj("exporters") ?? [])
            if (spec.Str("endpoint") is { } endpoint && !endpoint.StartsWith("0.0.0.0"))
                problems.Check(names.Contains(endpoint.Split(':')[0]), $"{collectorFile}: exporters.{exporter}.endpoint", $"host of '{endpoint}' is no compose service");
        var promExporterPort = collector.At("exporters.prometheus.endpoint")?.ToString().Split(':')[^1];

        var prometheusService = services.First(p => p.Value.Str("image")?.Contains("prometheus") == true);
        var promMount = prometheusService.Value.Arr("volumes").Select(v => v!.ToString().Split(':')).First(p => p[0].EndsWith(".yml"));
        var promFile = promMount[0].TrimStart('.', '/');
        var prom = Yaml.Load(RepositoryRoot.PathOf(promFile));
        var targets = new List<string>();
        foreach (var job in prom.Objs("scrape_configs"))
            foreach (var target in job.Objs("static_configs").SelectMany(s => s.Arr("targets")).Select(t => t!.ToString()))
            {
                targets.Add(target);
                problems.Check(names.Contains(target.Split(':')[0]), $"{promFile}: scrape_configs[{job.Str("job_name")}]", $"target '{target}' is no compose service");
            }
        problems.Check(targets.Contains($"{collectorService.Key}:{promExporterPort}"), promFile, $"does not scrape the collector's Prometheus exporter ({collectorService.Key}:{promExporterPort})");
        // Every silo and the gateway expose /metrics on 9090 (the telemetry work's endpoint): all must be scraped.
        foreach (var (name, service) in services.Where(p => p.Value.At("build.dockerfile") is not null))
            problems.Check(targets.Contains($"{name}:9090"), promFile, $"does not scrape {name}:9090");
        problems.AssertNone($"{collectorFile}, {promFile}");
    }
}
