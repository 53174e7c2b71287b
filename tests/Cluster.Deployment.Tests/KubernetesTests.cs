using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Cluster.Testing;

namespace Cluster.Deployment.Tests;

/// <summary>
/// k8s/: the base and both overlays render (see <see cref="Kustomize"/>), and every rendered object is checked:
/// known apiVersion/kind and field names (a subset of the Kubernetes schema covering the fields used here, so a
/// typo fails instead of being dropped by the API server), value types, and the references between objects
/// (selectors, ports, probes, service accounts, config maps, HPA and PDB targets, network policies), plus the
/// Orleans-on-Kubernetes requirements and what each overlay must set.
/// </summary>
public class KubernetesTests
{
    public static TheoryData<string> Layers => new() { "k8s/base", "k8s/overlays/cpu", "k8s/overlays/gpu" };
    public static TheoryData<string> Overlays => new() { "k8s/overlays/cpu", "k8s/overlays/gpu" };

    const string Namespace = "llm-cluster";
    const string SiloName = "cluster-silo";
    const string GatewayName = "cluster-gateway";

    static readonly Dictionary<string, string> KnownKinds = new()
    {
        ["Namespace"] = "v1", ["ServiceAccount"] = "v1", ["ConfigMap"] = "v1", ["Secret"] = "v1", ["Service"] = "v1",
        ["Deployment"] = "apps/v1", ["StatefulSet"] = "apps/v1",
        ["Role"] = "rbac.authorization.k8s.io/v1", ["RoleBinding"] = "rbac.authorization.k8s.io/v1",
        ["HorizontalPodAutoscaler"] = "autoscaling/v2", ["PodDisruptionBudget"] = "policy/v1",
        ["NetworkPolicy"] = "networking.k8s.io/v1",
    };

    // Allowed fields (a subset of the OpenAPI schema: what these manifests may use). "*" = free-form map of strings.
    static readonly Dictionary<string, HashSet<string>> Fields = new()
    {
        ["top:Namespace"] = ["apiVersion", "kind", "metadata", "spec"],
        ["top:ServiceAccount"] = ["apiVersion", "kind", "metadata", "automountServiceAccountToken", "secrets", "imagePullSecrets"],
        ["top:ConfigMap"] = ["apiVersion", "kind", "metadata", "data", "binaryData", "immutable"],
        ["top:Secret"] = ["apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"],
        ["top:Role"] = ["apiVersion", "kind", "metadata", "rules"],
        ["top:RoleBinding"] = ["apiVersion", "kind", "metadata", "roleRef", "subjects"],
        ["top:*"] = ["apiVersion", "kind", "metadata", "spec"],
        ["metadata"] = ["name", "namespace", "labels", "annotations"],
        ["Deployment.spec"] = ["replicas", "selector", "template", "strategy", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds", "paused"],
        ["StatefulSet.spec"] = ["replicas", "selector", "template", "serviceName", "podManagementPolicy", "updateStrategy", "volumeClaimTemplates", "minReadySeconds", "persistentVolumeClaimRetentionPolicy", "revisionHistoryLimit", "ordinals"],
        ["template"] = ["metadata", "spec"],
        ["pod"] = ["containers", "initContainers", "volumes", "serviceAccountName", "automountServiceAccountToken", "terminationGracePeriodSeconds", "securityContext", "nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "priorityClassName", "imagePullSecrets", "runtimeClassName", "dnsPolicy", "restartPolicy", "enableServiceLinks", "hostNetwork"],
        ["container"] = ["name", "image", "imagePullPolicy", "command", "args", "workingDir", "ports", "env", "envFrom", "resources", "volumeMounts", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "securityContext", "terminationMessagePolicy"],
        ["port"] = ["name", "containerPort", "protocol", "hostPort"],
        ["probe"] = ["exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold", "terminationGracePeriodSeconds"],
        ["resources"] = ["requests", "limits", "claims"],
        ["env"] = ["name", "value", "valueFrom"],
        ["volumeMount"] = ["name", "mountPath", "readOnly", "subPath", "subPathExpr", "mountPropagation"],
        ["Service.spec"] = ["type", "selector", "ports", "clusterIP", "sessionAffinity", "externalTrafficPolicy", "internalTrafficPolicy", "loadBalancerSourceRanges", "publishNotReadyAddresses", "ipFamilyPolicy"],
        ["servicePort"] = ["name", "port", "targetPort", "protocol", "appProtocol", "nodePort"],
        ["HorizontalPodAutoscaler.spec"] = ["scaleTargetRef", "minReplicas", "maxReplicas", "metrics", "behavior"],
        ["PodDisruptionBudget.spec"] = ["selector", "minAvailable", "maxUnavailable", "unhealthyPodEvictionPolicy"],
        ["NetworkPolicy.spec"] = ["podSelector", "policyTypes", "ingress", "egress"],
        ["Namespace.spec"] = ["finalizers"],
    };

    static void CheckFields(JsonNode? node, string schema, string where, Problems problems)
    {
        if (node is null) return;
        if (node is not JsonObject o) { problems.Add(where, $"expected a mapping, got {node.GetValueKind()}"); return; }
        foreach (var key in o.Select(p => p.Key))
            problems.Check(Fields[schema].Contains(key), where, $"unknown field '{key}' (known: {string.Join(", ", Fields[schema])})");
    }

    static bool IsDns1123(string s, int max = 63) => s.Length <= max && Regex.IsMatch(s, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");

    static bool IsQuantity(JsonNode? n) => n is JsonValue v && (v.TryGetValue<long>(out _) || v.TryGetValue<double>(out _) ||
        v.TryGetValue<string>(out var s) && Regex.IsMatch(s, @"^[+-]?(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$"));

    static bool SelectorMatches(Dictionary<string, string> selector, Dictionary<string, string> labels) =>
        selector.All(s => labels.TryGetValue(s.Key, out var v) && v == s.Value);

    static IEnumerable<K8sObject> Workloads(List<K8sObject> objects) => objects.Where(o => o.Kind is "Deployment" or "StatefulSet");

    static Dictionary<string, string> PodLabels(K8sObject workload) => workload.Node.At("spec.template.metadata").StringMap("labels");

    static IEnumerable<JsonObject> AllContainers(K8sObject w) =>
        Kustomize.PodSpec(w)!.Objs("containers").Concat(Kustomize.PodSpec(w)!.Objs("initContainers"));

    static List<K8sObject> Render(string layer)
    {
        try { return Kustomize.Render(layer); }
        catch (InvalidOperationException e) { Assert.Fail($"{layer} does not render: {e.Message}"); throw; }
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void Every_object_has_a_known_kind_known_fields_and_valid_values(string layer)
    {
        var objects = Render(layer);
        var problems = new Problems();
        foreach (var o in objects)
        {
            var w = o.ToString();
            problems.Check(KnownKinds.TryGetValue(o.Kind, out var api) && api == o.ApiVersion, w, $"apiVersion/kind '{o.ApiVersion}/{o.Kind}' is not one of the known ones ({string.Join(", ", KnownKinds.Select(k => k.Value + "/" + k.Key))})");
            CheckFields(o.Node, Fields.ContainsKey("top:" + o.Kind) ? "top:" + o.Kind : "top:*", w, problems);
            CheckFields(o.Node["metadata"], "metadata", $"{w}: metadata", problems);
            problems.Check(IsDns1123(o.Name), $"{w}: metadata.name", $"'{o.Name}' is not a DNS-1123 label");
            if (o.Kind != "Namespace")
                problems.Check(o.Namespace == Namespace, $"{w}: metadata.namespace", $"'{o.Namespace}' should be '{Namespace}'");
            foreach (var map in new[] { "labels", "annotations" })
                foreach (var (k, v) in o.Node.Obj("metadata")?.Obj(map) ?? [])
                    problems.Check(v.IsString(), $"{w}: metadata.{map}.{k}", $"value {v} must be a string (quote it)");
            if (Fields.ContainsKey(o.Kind + ".spec")) CheckFields(o.Node["spec"], o.Kind + ".spec", $"{w}: spec", problems);
            if (o.Kind == "ConfigMap")
                foreach (var (k, v) in o.Node.Obj("data") ?? [])
                    problems.Check(v.IsString(), $"{w}: data.{k}", $"value {v} must be a string (quote it)");
        }
        problems.Check(objects.Any(o => o.Kind == "Namespace" && o.Name == Namespace), layer, $"no Namespace '{Namespace}'");

        foreach (var wl in Workloads(objects))
        {
            var w = wl.ToString();
            var spec = wl.Node["spec"];
            CheckFields(spec.At("template"), "template", $"{w}: spec.template", problems);
            CheckFields(spec.At("template.metadata"), "metadata", $"{w}: spec.template.metadata", problems);
            foreach (var (k, v) in spec.At("template.metadata").Obj("labels") ?? [])
                problems.Check(v.IsString(), $"{w}: spec.template.metadata.labels.{k}", $"value {v} must be a string");
            var pod = Kustomize.PodSpec(wl);
            CheckFields(pod, "pod", $"{w}: spec.template.spec", problems);
            var selector = spec.At("selector").StringMap("matchLabels");
            problems.Check(selector.Count > 0, $"{w}: spec.selector.matchLabels", "empty");
            problems.Check(SelectorMatches(selector, PodLabels(wl)), $"{w}: spec.selector.matchLabels", "does not match the pod template's labels (the API server rejects the workload)");
            var volumes = pod.Objs("volumes").Select(v => v.Str("name")).ToHashSet();
            var allNames = new HashSet<string>();
            foreach (var (c, section) in pod.Objs("containers").Select(c => (c, "containers")).Concat(pod.Objs("initContainers").Select(c => (c, "initContainers"))))
            {
                var cw = $"{w}: spec.template.spec.{section}[{c.Str("name")}]";
                CheckFields(c, "container", cw, problems);
                problems.Check(c.Str("name") is { } n && IsDns1123(n) && allNames.Add(n), cw, "name missing, invalid or not unique");
                var image = c.Str("image") ?? "";
                problems.Check(layer.Contains("overlays") ? Regex.IsMatch(image, @":[A-Za-z0-9._-]+$|@sha256:") : image.Length > 0, $"{cw}.image",
                    $"'{image}' has no tag (the overlays' images: must set one)");
                var portNames = new HashSet<string>();
                var portNumbers = new HashSet<long>();
                foreach (var p in c.Objs("ports"))
                {
                    CheckFields(p, "port", $"{cw}.ports", problems);
                    problems.Check(p.Int("containerPort") is > 0 and < 65536 && portNumbers.Add(p.Int("containerPort")!.Value), $"{cw}.ports", $"containerPort {p["containerPort"]} is not a unique integer port");
                    if (p.Str("name") is { } pn)
                        problems.Check(IsDns1123(pn, 15) && Regex.IsMatch(pn, "[a-z]") && portNames.Add(pn), $"{cw}.ports[{pn}]", "port names are unique, at most 15 characters, lowercase alphanumerics and '-'");
                }
                foreach (var probeName in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
                {
                    if (c[probeName] is not JsonObject probe) continue;
                    var pw = $"{cw}.{probeName}";
                    CheckFields(probe, "probe", pw, problems);
                    var handlers = new[] { "exec", "httpGet", "tcpSocket", "grpc" }.Where(probe.ContainsKey).ToList();
                    problems.Check(handlers.Count == 1, pw, $"needs exactly one handler, has {handlers.Count}");
                    foreach (var h in handlers.Where(h => h != "exec"))
                    {
                        var port = probe.At(h + ".port");
                        var ok = port switch
                        {
                            JsonValue v when v.TryGetValue<long>(out var num) => portNumbers.Contains(num),
                            JsonValue v when v.TryGetValue<string>(out var name) => h != "grpc" && portNames.Contains(name),
                            _ => false,
                        };
                        problems.Check(ok, $"{pw}.{h}.port", $"'{port}' is not a port of the container ({string.Join(", ", portNames.Concat(portNumbers.Select(n => n.ToString())))}){(h == "grpc" ? "; grpc probes take a number" : "")}");
                    }
                    foreach (var (k, v) in probe.Where(p => p.Key.EndsWith("Seconds") || p.Key.EndsWith("Threshold")))
                        problems.Check(v is JsonValue jv && jv.TryGetValue<long>(out var count) && count >= 0, $"{pw}.{k}", $"{v} is not a non-negative integer");
                }
                if (c["resources"] is JsonObject res)
                {
                    CheckFields(res, "resources", $"{cw}.resources", problems);
                    foreach (var kind in new[] { "requests", "limits" })
                        foreach (var (k, v) in res.Obj(kind) ?? [])
                            problems.Check(IsQuantity(v), $"{cw}.resources.{kind}.{k}", $"'{v}' is not a quantity");
                    // Extended resources (GPUs) cannot be overcommitted: requests must equal limits.
                    foreach (var (k, v) in (res.Obj("limits") ?? []).Where(p => p.Key.Contains('/')))
                        problems.Check(res.Obj("requests")?[k] is null || res.Obj("requests")![k]!.ToString() == v!.ToString(), $"{cw}.resources.requests.{k}", "must equal the limit (extended resources cannot be overcommitted)");
                    foreach (var (k, req) in res.Obj("requests") ?? [])
                        if (res.Obj("limits")?[k] is { } lim && k is "memory" && Quantity(req) > Quantity(lim))
                            problems.Add($"{cw}.resources", $"{k} request {req} exceeds the limit {lim}");
                }
                foreach (var e in c.Objs("env"))
                {
                    CheckFields(e, "env", $"{cw}.env[{e.Str("name")}]", problems);
                    problems.Check(e["value"] is null || e["value"].IsString(), $"{cw}.env[{e.Str("name")}].value", $"{e["value"]} must be a string (quote it)");
                    problems.Check(e["value"] is not null ^ e["valueFrom"] is not null, $"{cw}.env[{e.Str("name")}]", "needs exactly one of value, valueFrom");
                    if (e.At("valueFrom.fieldRef.fieldPath")?.ToString() is { } fp && Regex.Match(fp, @"^metadata\.labels\['(.+)'\]$") is { Success: true } lm)
                        problems.Check(PodLabels(wl).ContainsKey(lm.Groups[1].Value), $"{cw}.env[{e.Str("name")}].valueFrom.fieldRef", $"reads label '{lm.Groups[1].Value}', which the pod template does not have");
                    if (e.At("valueFrom.configMapKeyRef") is JsonObject cmk)
                        problems.Check(objects.Any(o => o.Kind == "ConfigMap" && o.Name == cmk.Str("name") && o.Node.Obj("data")?.ContainsKey(cmk.Str("key") ?? "") == true), $"{cw}.env[{e.Str("name")}]", $"ConfigMap key {cmk.Str("name")}/{cmk.Str("key")} does not exist");
                }
                var envNames = c.Objs("env").Select(e => e.Str("name")).ToList();
                problems.Check(envNames.Distinct().Count() == envNames.Count, $"{cw}.env", $"duplicate names: {string.Join(", ", envNames.GroupBy(n => n).Where(g => g.Count() > 1).Select(g => g.Key))}");
                foreach (var ef in c.Objs("envFrom"))
                {
                    if (ef.At("configMapRef.name")?.ToString() is { } cm)
                        problems.Check(objects.Any(o => o.Kind == "ConfigMap" && o.Name == cm), $"{cw}.envFrom", $"ConfigMap '{cm}' does not exist");
                    if (ef.Obj("secretRef") is { } sr && sr.Str("name") is { } secret)
                        problems.Check(SecretExists(objects, secret) || sr["optional"]?.ToString() == "true", $"{cw}.envFrom",
                            $"Secret '{secret}' is neither rendered nor described by a {ExampleSecretFiles} file");
                }
                foreach (var e in c.Objs("env"))
                    if (e.At("valueFrom.secretKeyRef") is JsonObject sk)
                        problems.Check(SecretExists(objects, sk.Str("name") ?? "", sk.Str("key")), $"{cw}.env[{e.Str("name")}]",
                            $"Secret key {sk.Str("name")}/{sk.Str("key")} is neither rendered nor in a {ExampleSecretFiles} file");
                foreach (var m in c.Objs("volumeMounts"))
                {
                    CheckFields(m, "volumeMount", $"{cw}.volumeMounts[{m.Str("name")}]", problems);
                    problems.Check(volumes.Contains(m.Str("name")), $"{cw}.volumeMounts[{m.Str("name")}]", "no such volume in spec.template.spec.volumes");
                }
            }
            if (pod.Str("serviceAccountName") is { } sa)
                problems.Check(objects.Any(o => o.Kind == "ServiceAccount" && o.Name == sa), $"{w}: spec.template.spec.serviceAccountName", $"ServiceAccount '{sa}' does not exist");
        }

        foreach (var svc in objects.Where(o => o.Kind == "Service"))
        {
            var w = svc.ToString();
            var selector = svc.Node.At("spec").StringMap("selector");
            var targets = Workloads(objects).Where(wl => selector.Count > 0 && SelectorMatches(selector, PodLabels(wl))).ToList();
            problems.Check(targets.Count > 0, $"{w}: spec.selector", "selects no workload's pods");
            foreach (var p in svc.Node.At("spec").Objs("ports"))
            {
                CheckFields(p, "servicePort", $"{w}: spec.ports", problems);
                var target = p["targetPort"] ?? p["port"];
                foreach (var t in targets)
                {
                    var ports = Kustomize.PodSpec(t)!.Objs("containers").SelectMany(c => c.Objs("ports")).ToList();
                    problems.Check(target is JsonValue v && (v.TryGetValue<string>(out var n) ? ports.Any(x => x.Str("name") == n) : ports.Any(x => x.Int("containerPort") == v.GetValue<long>())),
                        $"{w}: spec.ports[{p.Str("name")}].targetPort", $"'{target}' is no container port of {t}");
                }
            }
        }

        foreach (var rb in objects.Where(o => o.Kind == "RoleBinding"))
        {
            var w = rb.ToString();
            problems.Check(objects.Any(o => o.Kind == rb.Node.At("roleRef.kind")?.ToString() && o.Name == rb.Node.At("roleRef.name")?.ToString()), $"{w}: roleRef", "names no existing Role");
            foreach (var s in rb.Node.Objs("subjects"))
                problems.Check(s.Str("kind") != "ServiceAccount" || objects.Any(o => o.Kind == "ServiceAccount" && o.Name == s.Str("name") && o.Namespace == s.Str("namespace")), $"{w}: subjects", $"ServiceAccount {s.Str("namespace")}/{s.Str("name")} does not exist");
        }
        problems.AssertNone(layer);
    }

    /// <summary>Secrets created out of band (never rendered, so re-applying cannot overwrite them) are described by example files.</summary>
    const string ExampleSecretFiles = "k8s/base/*.example.yaml";

    static List<JsonObject> ExampleSecrets() =>
        [.. Directory.GetFiles(RepositoryRoot.PathOf("k8s/base"), "*.example.yaml").SelectMany(Yaml.LoadAll).OfType<JsonObject>().Where(o => o.Str("kind") == "Secret")];

    static bool SecretExists(List<K8sObject> objects, string name, string? key = null) =>
        objects.Where(o => o.Kind == "Secret").Select(o => o.Node).Concat(ExampleSecrets()).Any(o =>
            o.At("metadata.name")?.ToString() == name && (key is null || o.Obj("stringData")?.ContainsKey(key) == true || o.Obj("data")?.ContainsKey(key) == true));

    [Theory]
    [MemberData(nameof(Layers))]
    public void The_gateway_takes_its_api_keys_from_a_secret_created_out_of_band(string layer)
    {
        var objects = Render(layer);
        var problems = new Problems();
        var gateway = Workloads(objects).Single(w => w.Name == GatewayName);
        var refs = Kustomize.PodSpec(gateway)!.Objs("containers").Single(c => c.Str("name") == "gateway").Objs("envFrom").Select(e => e.Obj("secretRef")).OfType<JsonObject>().ToList();
        problems.Check(refs.Count == 1, $"{gateway}: envFrom", $"expected one secretRef (the API keys), found {refs.Count}");
        var examples = ExampleSecrets();
        foreach (var secretRef in refs)
        {
            var name = secretRef.Str("name");
            problems.Check(secretRef["optional"]?.ToString() != "true", $"{gateway}: envFrom.secretRef", $"'{name}' is optional: a gateway without it would start open to the internet");
            problems.Check(objects.All(o => o.Kind != "Secret" || o.Name != name), layer, $"Secret '{name}' is rendered: re-applying the kustomization would reset the real keys to the example's");
            var example = examples.SingleOrDefault(e => e.At("metadata.name")?.ToString() == name);
            problems.Check(example is not null, ExampleSecretFiles, $"no example for Secret '{name}' (how to create it)");
            if (example is null) continue;
            problems.Check(example.At("metadata.namespace")?.ToString() == Namespace, $"{ExampleSecretFiles}: {name}", $"namespace must be '{Namespace}'");
            // The gateway binds Gateway:Auth:Keys:<n>:<field> (AuthOptions); '__' is ':' in environment variable names.
            foreach (var (key, value) in example.Obj("stringData") ?? [])
            {
                problems.Check(Regex.IsMatch(key, @"^Gateway__Auth__Keys__\d+__(Name|Key|MaxConcurrentStreams|TokensPerMinute)$"), $"{ExampleSecretFiles}: {name}", $"'{key}' is not a Gateway__Auth__Keys__<n>__<Name|Key|MaxConcurrentStreams|TokensPerMinute> setting");
                problems.Check(value.IsString(), $"{ExampleSecretFiles}: {name}.{key}", "must be a string (quote it)");
                // Below the gateway's 32-character minimum, so an example applied unchanged fails closed.
                if (key.EndsWith("__Key"))
                    problems.Check(value!.ToString().Length < 32, $"{ExampleSecretFiles}: {name}.{key}", "the placeholder is long enough to be accepted as a real key; keep it under 32 characters");
            }
        }
        problems.AssertNone(layer);
    }

    static double Quantity(JsonNode? n)
    {
        var s = n!.ToString();
        var m = Regex.Match(s, @"^([0-9.]+)([a-zA-Z]*)$");
        var x = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        return x * (m.Groups[2].Value switch { "Ki" => 1024, "Mi" => 1 << 20, "Gi" => 1 << 30, "Ti" => 1L << 40, "k" => 1e3, "M" => 1e6, "G" => 1e9, "m" => 1e-3, _ => 1 });
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void Autoscalers_and_disruption_budgets_target_existing_workloads(string layer)
    {
        var objects = Render(layer);
        var problems = new Problems();
        foreach (var hpa in objects.Where(o => o.Kind == "HorizontalPodAutoscaler"))
        {
            var w = hpa.ToString();
            var spec = hpa.Node["spec"];
            var reference = spec.Obj("scaleTargetRef");
            var target = objects.FirstOrDefault(o => o.Kind == reference.Str("kind") && o.Name == reference.Str("name") && o.ApiVersion == reference.Str("apiVersion"));
            problems.Check(target is not null, $"{w}: spec.scaleTargetRef", $"{reference.Str("apiVersion")} {reference.Str("kind")}/{reference.Str("name")} does not exist");
            var min = spec.Int("minReplicas") ?? 1;
            var max = spec.Int("maxReplicas");
            problems.Check(min >= 1 && max >= min, $"{w}: spec", $"minReplicas {min} / maxReplicas {max} out of order");
            foreach (var metric in spec.Objs("metrics").Where(m => m.Str("type") == "Resource"))
            {
                var resource = metric.At("resource.name")?.ToString() ?? "";
                if (target is not null)
                    foreach (var c in Kustomize.PodSpec(target)!.Objs("containers"))
                        problems.Check(c.At("resources.requests")?[resource] is not null, $"{w}: spec.metrics[{resource}]",
                            $"utilisation of {resource} needs a {resource} request on every container; {target} container '{c.Str("name")}' has none (the HPA would report <unknown>)");
            }
            if (target is not null)
                problems.Check(target.Node.At("spec.replicas") is not JsonValue r || r.GetValue<long>() >= min, $"{w}", $"{target} starts with fewer replicas than minReplicas {min}");
        }
        foreach (var pdb in objects.Where(o => o.Kind == "PodDisruptionBudget"))
        {
            var w = pdb.ToString();
            var spec = pdb.Node["spec"];
            var selector = spec.At("selector").StringMap("matchLabels");
            var targets = Workloads(objects).Where(wl => SelectorMatches(selector, PodLabels(wl))).ToList();
            problems.Check(targets.Count == 1, $"{w}: spec.selector", $"matches {targets.Count} workloads' pods; expected exactly one");
            problems.Check(spec?["minAvailable"] is null ^ spec?["maxUnavailable"] is null, $"{w}: spec", "needs exactly one of minAvailable, maxUnavailable");
            // An integer minAvailable at or above the smallest replica count blocks every node drain.
            if (spec.Int("minAvailable") is { } minAvailable && targets.Count == 1)
            {
                var hpaMin = objects.Where(o => o.Kind == "HorizontalPodAutoscaler" && o.Node.At("spec.scaleTargetRef.name")?.ToString() == targets[0].Name).Select(o => o.Node.At("spec").Int("minReplicas") ?? 1).DefaultIfEmpty(targets[0].Node.At("spec").Int("replicas") ?? 1).Min();
                problems.Check(minAvailable < hpaMin, $"{w}: spec.minAvailable", $"{minAvailable} >= the smallest replica count {hpaMin} of {targets[0]}: no pod could ever be evicted");
            }
        }
        foreach (var name in new[] { SiloName, GatewayName })
        {
            problems.Check(objects.Any(o => o.Kind == "HorizontalPodAutoscaler" && o.Node.At("spec.scaleTargetRef.name")?.ToString() == name), layer, $"no HorizontalPodAutoscaler for {name}");
            problems.Check(objects.Any(o => o.Kind == "PodDisruptionBudget" && objects.Any(w => w.Name == name && SelectorMatches(o.Node.At("spec.selector").StringMap("matchLabels"), PodLabels(w)))), layer, $"no PodDisruptionBudget for {name}");
        }
        problems.AssertNone(layer);
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void Network_policies_open_only_the_gateway_grpc_port_to_the_outside(string layer)
    {
        var objects = Render(layer);
        var problems = new Problems();
        var policies = objects.Where(o => o.Kind == "NetworkPolicy").ToList();
        var workloads = Workloads(objects).ToList();
        problems.Check(policies.Any(p => p.Node.At("spec.podSelector") is JsonObject { Count: 0 } && p.Node.At("spec").Arr("policyTypes").Any(t => t!.ToString() == "Ingress") && p.Node.At("spec.ingress") is null),
            layer, "no default-deny ingress policy (podSelector {}, policyTypes [Ingress], no rules)");
        // Who may reach (workload, port): "outside" or the names of the workloads whose pods a rule admits.
        var allowed = new Dictionary<(string Workload, long Port), HashSet<string>>();
        foreach (var policy in policies)
        {
            var w = policy.ToString();
            var selector = policy.Node.At("spec.podSelector").StringMap("matchLabels");
            var selected = workloads.Where(wl => SelectorMatches(selector, PodLabels(wl))).ToList();
            problems.Check(selected.Count > 0, $"{w}: spec.podSelector", "selects no workload's pods");
            foreach (var (rule, i) in policy.Node.At("spec").Objs("ingress").Select((r, i) => (r, i)))
            {
                var sources = new HashSet<string>();
                if (rule["from"] is null) sources.Add("outside");
                foreach (var peer in rule.Objs("from"))
                {
                    if (peer["ipBlock"] is not null) sources.Add("outside");
                    if (peer["namespaceSelector"] is not null && peer["podSelector"] is null) sources.Add("any pod in the cluster");
                    if (peer["podSelector"] is JsonObject ps)
                    {
                        var labels = ps.StringMap("matchLabels");
                        var peers = workloads.Where(wl => SelectorMatches(labels, PodLabels(wl))).ToList();
                        problems.Check(peers.Count > 0, $"{w}: spec.ingress[{i}].from.podSelector", $"{string.Join(",", labels.Select(l => l.Key + "=" + l.Value))} selects no workload's pods");
                        sources.UnionWith(peers.Select(p => p.Name));
                    }
                }
                var ports = rule.Objs("ports").ToList();
                problems.Check(ports.Count > 0, $"{w}: spec.ingress[{i}]", "allows every port: list the ports");
                foreach (var p in ports)
                {
                    var port = p.Int("port");
                    problems.Check(port is not null, $"{w}: spec.ingress[{i}].ports", "use port numbers");
                    foreach (var s in selected)
                    {
                        var declared = Kustomize.PodSpec(s)!.Objs("containers").SelectMany(c => c.Objs("ports")).Select(x => x.Int("containerPort")).ToList();
                        problems.Check(declared.Contains(port), $"{w}: spec.ingress[{i}].ports", $"port {port} is not a container port of {s}");
                        if (port is { } n)
                        {
                            allowed.TryAdd((s.Name, n), []);
                            allowed[(s.Name, n)].UnionWith(sources);
                        }
                    }
                }
            }
        }
        // Under default-deny, a container port no rule admits is silently unreachable (a port added without its policy).
        foreach (var wl in workloads)
            foreach (var port in Kustomize.PodSpec(wl)!.Objs("containers").SelectMany(c => c.Objs("ports")).Select(p => p.Int("containerPort")).OfType<long>())
                problems.Check(allowed.ContainsKey((wl.Name, port)), layer, $"{wl}: container port {port} is admitted by no NetworkPolicy rule (default-deny drops it)");
        // Metrics: Prometheus inside the cluster, never the outside.
        foreach (var name in new[] { SiloName, GatewayName })
            problems.Check(allowed.GetValueOrDefault((name, 9090L)) is { Count: > 0 } m && !m.Contains("outside"), layer, $"{name}:9090 (metrics) must admit in-cluster scrapers and not the outside");
        foreach (var ((workload, port), sources) in allowed.Where(a => a.Value.Contains("outside")))
            problems.Check(workload == GatewayName && port is 5000 or 8000, layer, $"{workload}:{port} is reachable from outside the cluster; only {GatewayName}:5000 (gRPC) and :8000 (OpenAI API) may be");
        problems.Check(allowed.GetValueOrDefault((GatewayName, 5000L))?.Contains("outside") == true, layer, $"{GatewayName}:5000 (gRPC) is not reachable from outside");
        problems.Check(allowed.GetValueOrDefault((GatewayName, 8000L))?.Contains("outside") == true, layer, $"{GatewayName}:8000 (OpenAI API) is not reachable from outside");
        var silo11111 = allowed.GetValueOrDefault((SiloName, 11111L)) ?? [];
        problems.Check(silo11111.SetEquals([SiloName]), layer, $"{SiloName}:11111 (silo-to-silo) must admit exactly the silos, admits [{string.Join(", ", silo11111)}]");
        var silo30000 = allowed.GetValueOrDefault((SiloName, 30000L)) ?? [];
        problems.Check(silo30000.Count > 0 && silo30000.IsSubsetOf([SiloName, GatewayName]) && silo30000.Contains(GatewayName), layer,
            $"{SiloName}:30000 (Orleans clients) must admit the gateway and at most the silos, admits [{string.Join(", ", silo30000)}]");
        problems.AssertNone(layer);
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void Silos_and_gateway_meet_the_orleans_kubernetes_and_shutdown_requirements(string layer)
    {
        var objects = Render(layer);
        var problems = new Problems();
        var silo = objects.FirstOrDefault(o => o.Kind is "Deployment" or "StatefulSet" && o.Name == SiloName);
        var gateway = objects.FirstOrDefault(o => o.Kind == "Deployment" && o.Name == GatewayName);
        if (silo is null || gateway is null) { Assert.Fail($"{layer}: no {SiloName} workload or no {GatewayName} Deployment"); return; }
        var labels = PodLabels(silo);
        foreach (var label in new[] { "orleans/serviceId", "orleans/clusterId" })
            problems.Check(labels.ContainsKey(label), $"{silo}: spec.template.metadata.labels", $"missing '{label}' (Orleans' Kubernetes hosting finds the silos by it)");
        var container = Kustomize.PodSpec(silo)!.Objs("containers").First();
        var env = container.Objs("env").ToDictionary(e => e.Str("name") ?? "", e => e);
        var expected = new Dictionary<string, string>
        {
            ["POD_NAME"] = "metadata.name", ["POD_NAMESPACE"] = "metadata.namespace", ["POD_IP"] = "status.podIP",
            ["ORLEANS_SERVICE_ID"] = "metadata.labels['orleans/serviceId']", ["ORLEANS_CLUSTER_ID"] = "metadata.labels['orleans/clusterId']",
        };
        foreach (var (name, path) in expected)
            problems.Check(env.GetValueOrDefault(name).At("valueFrom.fieldRef.fieldPath")?.ToString() == path, $"{silo}: containers[{container.Str("name")}].env[{name}]", $"must come from the downward API fieldRef '{path}'");
        // The gateway's cluster ids must equal the silos' labels (else its client never finds a silo).
        var gwEnv = Kustomize.PodSpec(gateway)!.Objs("containers").First().Objs("env").ToDictionary(e => e.Str("name") ?? "", e => e.Str("value"));
        problems.Check(gwEnv.GetValueOrDefault("Cluster__ServiceId") == labels.GetValueOrDefault("orleans/serviceId"), $"{gateway}: env[Cluster__ServiceId]", $"'{gwEnv.GetValueOrDefault("Cluster__ServiceId")}' differs from the silos' orleans/serviceId '{labels.GetValueOrDefault("orleans/serviceId")}'");
        problems.Check(gwEnv.GetValueOrDefault("Cluster__ClusterId") == labels.GetValueOrDefault("orleans/clusterId"), $"{gateway}: env[Cluster__ClusterId]", $"'{gwEnv.GetValueOrDefault("Cluster__ClusterId")}' differs from the silos' orleans/clusterId '{labels.GetValueOrDefault("orleans/clusterId")}'");

        // RBAC: the silos' service account may get/list/watch/patch/delete pods in the namespace.
        var sa = Kustomize.PodSpec(silo)!.Str("serviceAccountName");
        var verbs = objects.Where(o => o.Kind == "RoleBinding" && o.Node.Objs("subjects").Any(s => s.Str("kind") == "ServiceAccount" && s.Str("name") == sa))
            .Select(rb => objects.FirstOrDefault(r => r.Kind == "Role" && r.Name == rb.Node.At("roleRef.name")?.ToString()))
            .Where(r => r is not null).SelectMany(r => r!.Node.Objs("rules"))
            .Where(rule => rule.Arr("apiGroups").Any(g => g!.ToString() == "") && rule.Arr("resources").Any(x => x!.ToString() == "pods"))
            .SelectMany(rule => rule.Arr("verbs").Select(v => v!.ToString())).ToHashSet();
        foreach (var verb in new[] { "get", "list", "watch", "patch", "delete" })
            problems.Check(verbs.Contains(verb), $"{silo}: serviceAccountName {sa}", $"may not '{verb}' pods (Orleans' Kubernetes hosting needs get, list, watch, patch, delete)");

        foreach (var wl in new[] { silo, gateway })
        {
            var pod = Kustomize.PodSpec(wl)!;
            problems.Check(pod.Int("terminationGracePeriodSeconds") is >= 30, $"{wl}: spec.template.spec.terminationGracePeriodSeconds", "set at least 30 s for a graceful Orleans shutdown");
            foreach (var c in pod.Objs("containers"))
            {
                var cw = $"{wl}: containers[{c.Str("name")}]";
                problems.Check(c["readinessProbe"] is not null, cw, "no readinessProbe");
                problems.Check(c["livenessProbe"] is not null, cw, "no livenessProbe");
                problems.Check(c.At("lifecycle.preStop") is not null, cw, "no lifecycle.preStop (endpoints must drop the pod before SIGTERM)");
                var preStopSleep = c.At("lifecycle.preStop.exec.command") is JsonArray cmd && cmd.Count == 2 && cmd[0]!.ToString() == "sleep" && long.TryParse(cmd[1]!.ToString(), out var s) ? s : 0;
                problems.Check(preStopSleep < (pod.Int("terminationGracePeriodSeconds") ?? 30), cw, "the preStop sleep eats the whole grace period");
                problems.Check(c.Objs("ports").Any(p => p.Int("containerPort") == 9090), cw, "no container port 9090 (/metrics, /healthz)");
            }
            var models = pod.Objs("volumes").FirstOrDefault(v => v.Str("name") == "models");
            problems.Check(models is not null && pod.Objs("initContainers").Any(i => i.Objs("volumeMounts").Any(m => m.Str("name") == "models")), $"{wl}: spec.template.spec", "the 'models' volume is not filled by an init container");
        }
        problems.AssertNone(layer);
    }

    [Fact]
    public void Overlays_set_the_compute_flavour_of_the_silos()
    {
        var problems = new Problems();
        foreach (var (layer, gpu) in new[] { ("k8s/overlays/cpu", false), ("k8s/overlays/gpu", true) })
        {
            var silo = Render(layer).First(o => o.Name == SiloName && o.Kind is "Deployment" or "StatefulSet");
            var pod = Kustomize.PodSpec(silo)!;
            var c = pod.Objs("containers").First();
            var w = $"{layer}: {silo}";
            var device = c.Objs("env").FirstOrDefault(e => e.Str("name") == "Cluster__Stages__Device")?.Str("value");
            problems.Check(device == (gpu ? "cuda" : "cpu"), $"{w}: env[Cluster__Stages__Device]", $"is '{device}', expected {(gpu ? "cuda" : "cpu")}");
            var image = c.Str("image") ?? "";
            problems.Check(image.EndsWith(gpu ? ":gpu" : ":cpu"), $"{w}: image", $"'{image}' is not the {(gpu ? "gpu" : "cpu")} image");
            var gpus = c.At("resources.limits")?["nvidia.com/gpu"];
            if (gpu)
            {
                problems.Check(gpus is not null, $"{w}: resources.limits", "no nvidia.com/gpu limit");
                problems.Check(pod.Obj("nodeSelector")?.Count > 0, $"{w}: spec.template.spec.nodeSelector", "no node selector for GPU nodes");
                problems.Check(pod.Objs("tolerations").Any(t => t.Str("key") == "nvidia.com/gpu"), $"{w}: spec.template.spec.tolerations", "no toleration for the nvidia.com/gpu taint");
            }
            else problems.Check(gpus is null && pod["nodeSelector"] is null, w, "the CPU overlay must not ask for GPUs or GPU nodes");
        }
        problems.AssertNone("k8s/overlays");
    }

    [Fact]
    public void Kubernetes_images_and_ports_match_the_dockerfiles_and_compose()
    {
        var problems = new Problems();
        var objects = Render("k8s/overlays/cpu");
        foreach (var (name, dockerfile) in new[] { (SiloName, DockerfileTests.SiloDockerfile), (GatewayName, DockerfileTests.GatewayDockerfile) })
        {
            var wl = objects.First(o => o.Name == name && o.Kind is "Deployment" or "StatefulSet");
            var df = new Dockerfile(RepositoryRoot.PathOf(dockerfile));
            var exposed = df.Stages[^1].Instructions.Where(i => i.Keyword == "EXPOSE").SelectMany(i => i.Words).Select(p => long.Parse(p.Split('/')[0])).ToHashSet();
            foreach (var c in Kustomize.PodSpec(wl)!.Objs("containers"))
            {
                problems.Check(c.Str("image")!.StartsWith(name + ":"), $"{wl}: containers[{c.Str("name")}].image", $"expected the {name} image (built from {dockerfile})");
                foreach (var p in c.Objs("ports"))
                    problems.Check(exposed.Contains(p.Int("containerPort") ?? -1), $"{wl}: containers[{c.Str("name")}].ports", $"{p.Int("containerPort")} is not EXPOSEd by {dockerfile}");
            }
        }
        problems.AssertNone("k8s vs Dockerfiles");
    }

    /// <summary>
    /// Where kubectl is installed (not on CI's fresh machines, which is why the renderer above exists), the
    /// renderer must agree with <c>kubectl kustomize</c> object for object.
    /// </summary>
    [Theory]
    [MemberData(nameof(Layers))]
    public void Renderer_agrees_with_kubectl_kustomize_where_kubectl_is_installed(string layer)
    {
        var kubectl = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "kubectl")).FirstOrDefault(File.Exists);
        if (kubectl is null) return;
        var psi = new ProcessStartInfo(kubectl, ["kustomize", RepositoryRoot.PathOf(layer)]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), "kubectl kustomize did not finish within 60 s");
        Assert.True(process.ExitCode == 0, $"kubectl kustomize {layer} failed: {error}");
        var tmp = Path.GetTempFileName();
        File.WriteAllText(tmp, output);
        var theirs = Yaml.LoadAll(tmp).OfType<JsonObject>().ToDictionary(o => $"{o.Str("kind")}/{o.At("metadata.name")}");
        File.Delete(tmp);
        var ours = Kustomize.Render(layer).ToDictionary(o => $"{o.Kind}/{o.Name}", o => o.Node);
        Assert.Equal(theirs.Keys.Order(), ours.Keys.Order());
        foreach (var (key, node) in ours)
            Assert.True(JsonNode.DeepEquals(node, theirs[key]), $"{layer}: {key} differs from kubectl kustomize:\nours:   {node.ToJsonString()}\nkubectl: {theirs[key].ToJsonString()}");
    }
}
