using Microsoft.Extensions.Configuration;

namespace Cluster.Silo.Hosting;

public static class PodHostingExtensions
{
    /// <summary>
    /// Orleans' Kubernetes hosting, inside a pod only: the silo takes its name, advertised address and cluster ids from
    /// the downward-API variables of k8s/base/silo.yaml (POD_NAME, POD_NAMESPACE, POD_IP, ORLEANS_SERVICE_ID,
    /// ORLEANS_CLUSTER_ID), and watches the silo pods, deleting a pod whose silo membership declared dead and declaring
    /// dead a silo whose pod is gone, so failover does not wait for probes. Redis stays the membership table.
    /// Outside Kubernetes (no KUBERNETES_SERVICE_HOST) nothing changes; <c>Cluster:KubernetesHosting=false</c> turns it off.
    /// </summary>
    public static ISiloBuilder UseKubernetesHostingInPod(this ISiloBuilder silo, IConfiguration configuration)
    {
        if (InPod(configuration))
        {
            silo.UseKubernetesHosting();
        }
        return silo;
    }

    /// <summary>In a pod with the variables Kubernetes hosting reads, and not switched off.</summary>
    public static bool InPod(IConfiguration configuration) =>
        configuration.GetValue("Cluster:KubernetesHosting", true)
        && !string.IsNullOrEmpty(configuration["KUBERNETES_SERVICE_HOST"])
        && !string.IsNullOrEmpty(configuration["POD_NAME"])
        && !string.IsNullOrEmpty(configuration["POD_IP"]);
}
