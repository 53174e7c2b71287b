using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Cluster.Deployment.Tests;

/// <summary>
/// Every rendered object of k8s/ (base and both overlays) read into the official client's models, which are generated
/// from the Kubernetes OpenAPI schema, with unknown fields refused: a misspelt or misplaced field anywhere in an object,
/// or a value of the wrong type, fails here instead of being dropped or rejected by the API server at deploy time.
/// (KubernetesTests checks what the schema cannot: references between objects and what Orleans needs.)
/// </summary>
public sealed class KubernetesSchemaTests
{
    static readonly Dictionary<string, Type> Models = new()
    {
        ["v1/Namespace"] = typeof(V1Namespace), ["v1/ServiceAccount"] = typeof(V1ServiceAccount), ["v1/ConfigMap"] = typeof(V1ConfigMap),
        ["v1/Secret"] = typeof(V1Secret), ["v1/Service"] = typeof(V1Service),
        ["apps/v1/Deployment"] = typeof(V1Deployment), ["apps/v1/StatefulSet"] = typeof(V1StatefulSet),
        ["rbac.authorization.k8s.io/v1/Role"] = typeof(V1Role), ["rbac.authorization.k8s.io/v1/RoleBinding"] = typeof(V1RoleBinding),
        ["autoscaling/v2/HorizontalPodAutoscaler"] = typeof(V2HorizontalPodAutoscaler), ["policy/v1/PodDisruptionBudget"] = typeof(V1PodDisruptionBudget),
        ["networking.k8s.io/v1/NetworkPolicy"] = typeof(V1NetworkPolicy),
    };

    static KubernetesSchemaTests() =>
        // The client's own serializer options (its converters for quantities, int-or-string, times), made strict.
        KubernetesJson.AddJsonOptions(options => options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow);

    [Theory]
    [MemberData(nameof(KubernetesTests.Layers), MemberType = typeof(KubernetesTests))]
    public void EveryRenderedObjectMatchesTheKubernetesSchema(string layer)
    {
        var problems = Kustomize.Render(layer).Select(Problem).OfType<string>().ToList();
        Assert.True(problems.Count == 0, $"{layer}: objects that do not match the Kubernetes schema:\n{string.Join("\n", problems)}");
    }

    [Theory]
    [InlineData("spec.template.spec.containers.0", "imagePullPolicyy", "\"Always\"")]
    [InlineData("spec", "replica", "2")]
    [InlineData("spec.template.spec.containers.0.ports.0", "containerPort", "\"eighty\"")]
    public void AMisspeltFieldOrAWrongTypeIsCaught(string at, string field, string json)
    {
        var deployment = Kustomize.Render("k8s/base").First(o => o.Kind == "Deployment");
        var broken = (JsonObject)deployment.Node.DeepClone();
        var target = (JsonObject)Path(broken, at);
        target[field] = JsonNode.Parse(json);
        Assert.NotNull(Problem(deployment with { Node = broken }));
    }

    static JsonNode Path(JsonNode node, string path) =>
        path.Split('.').Aggregate(node, (n, part) => int.TryParse(part, out var i) ? n[i]! : n[part]!);

    static string? Problem(K8sObject o)
    {
        if (!Models.TryGetValue($"{o.ApiVersion}/{o.Kind}", out var model))
        {
            return $"{o}: no schema model for {o.ApiVersion} {o.Kind} (add it to {nameof(KubernetesSchemaTests)}.{nameof(Models)})";
        }
        try
        {
            typeof(KubernetesJson).GetMethod(nameof(KubernetesJson.Deserialize), [typeof(JsonNode), typeof(JsonSerializerOptions)])!
                .MakeGenericMethod(model).Invoke(null, [o.Node, null]);
            return null;
        }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is JsonException json)
        {
            return $"{o}: {json.Message}";
        }
    }
}
