using Cluster.Contracts.Api;
using Google.Protobuf.Reflection;
using Grpc.Health.V1;
using Grpc.Core;
using Grpc.Reflection.V1Alpha;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>What load balancers and tools ask a gateway: gRPC health and server reflection.</summary>
public sealed class ServiceDiscoveryTests
{
    [Fact]
    public async Task HealthIsServingOnceModelsAreLoadedAndReflectionListsTheGenerationService()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var health = await new Health.HealthClient(cluster.Channel).CheckAsync(new HealthCheckRequest(), cancellationToken: timeout.Token);
        Assert.True(health.Status == HealthCheckResponse.Types.ServingStatus.Serving, $"Health with every model loaded: {health.Status}.");

        var reflection = new ServerReflection.ServerReflectionClient(cluster.Channel);
        using var call = reflection.ServerReflectionInfo(cancellationToken: timeout.Token);
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "cluster.v1.Generation" });
        await call.RequestStream.CompleteAsync();

        Assert.True(await call.ResponseStream.MoveNext(timeout.Token), "Reflection answered nothing to list_services.");
        var services = call.ResponseStream.Current.ListServicesResponse?.Service.Select(s => s.Name).ToList() ?? [];
        Assert.True(services.Contains("cluster.v1.Generation") && services.Contains("grpc.health.v1.Health"),
            $"Reflection lists [{string.Join(", ", services)}]; expected cluster.v1.Generation and grpc.health.v1.Health.");

        Assert.True(await call.ResponseStream.MoveNext(timeout.Token), "Reflection answered nothing to file_containing_symbol.");
        var files = call.ResponseStream.Current.FileDescriptorResponse?.FileDescriptorProto.Select(FileDescriptorProto.Parser.ParseFrom).ToList() ?? [];
        var service = files.SelectMany(f => f.Service.Select(s => (f.Package, Service: s))).FirstOrDefault(s => s.Package == "cluster.v1" && s.Service.Name == "Generation").Service;
        Assert.True(service is not null, $"Reflection's files [{string.Join(", ", files.Select(f => f.Name))}] hold no cluster.v1.Generation.");
        var methods = service.Method.Select(m => m.Name).ToList();
        var expected = Generation.Descriptor.Methods.Select(m => m.Name).ToList();
        Assert.True(expected.All(methods.Contains), $"Reflection's Generation has [{string.Join(", ", methods)}]; the contract has [{string.Join(", ", expected)}].");
    }

    /// <summary>
    /// Health by service name: "" and cluster.v1.Generation are SERVING once the models are loaded and turn NOT_SERVING
    /// as soon as the gateway starts stopping (ApplicationStopping, the first thing SIGTERM does); an unknown name is
    /// NOT_FOUND.
    /// </summary>
    [Fact]
    public async Task HealthOfTheGenerationServiceByNameIsServingAndTurnsNotServingWhenTheGatewayStartsStopping()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 1);
        var health = new Health.HealthClient(cluster.Channel);
        const string generation = "cluster.v1.Generation";
        Assert.Equal(generation, Generation.Descriptor.FullName);

        foreach (var name in new[] { "", generation })
        {
            var status = await CheckAsync(health, name);
            Assert.True(status == HealthCheckResponse.Types.ServingStatus.Serving, $"Health of \"{name}\" with every model loaded: {status}.");
        }
        var unknown = await Assert.ThrowsAsync<RpcException>(() => CheckAsync(health, "cluster.v1.NoSuchService"));
        Assert.True(unknown.StatusCode == StatusCode.NotFound, $"An unknown service name: {unknown.Status}.");

        cluster.BeginGatewayStop();

        foreach (var name in new[] { "", generation })
        {
            var status = await CheckAsync(health, name);
            Assert.True(status == HealthCheckResponse.Types.ServingStatus.NotServing, $"Health of \"{name}\" once the gateway is stopping: {status}.");
        }
    }

    private static async Task<HealthCheckResponse.Types.ServingStatus> CheckAsync(Health.HealthClient health, string service)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var response = await health.CheckAsync(new HealthCheckRequest { Service = service }, cancellationToken: timeout.Token);
        return response.Status;
    }
}
