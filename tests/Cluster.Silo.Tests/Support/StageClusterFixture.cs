using Cluster.Contracts;
using Cluster.Contracts.Stages;
using Cluster.Engine.Model;
using Cluster.Silo.Hosting;
using Cluster.Silo.Stages;
using Cluster.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Configuration;
using Orleans.TestingHost;

namespace Cluster.Silo.Tests.Support;

/// <summary>
/// An in-process Orleans cluster of several silos, each configured by <see cref="SiloHostExtensions.UseClusterStages"/>
/// like the real host, serving a tiny Llama checkpoint (4 layers, 4 query heads over 2 KV heads) written to a temp
/// directory, plus the whole model loaded in this process as the single-process reference. The stage clock is a fake
/// one that tests advance by hand. Placement is enforced (test clusters skip it unless silos are declared non-homogeneous).
/// </summary>
public abstract class StageClusterFixture(short silos, int stages) : IAsyncLifetime
{
    public const string Model = "llama";

    /// <summary>Small enough that a test can exceed it with a few full-context reservations.</summary>
    public const long KvBudgetBytes = 512 * 1024;

    public static readonly TimeSpan IdleExpiry = TimeSpan.FromMinutes(10);

    private readonly TempDirectory _checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama);

    public short SiloCount { get; } = silos;
    public int Stages { get; } = stages;
    public FakeTimeProvider Clock { get; } = new();
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public ModelShard WholeModel { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;

    /// <summary>The stages of one replica of <see cref="Model"/>; tests that count sessions take a replica of their own.</summary>
    public StagePipeline Replica(int replica) => new(Client, Model, replica, Stages);

    public StagePipeline Pipeline(string model, int replica, int stages) => new(Client, model, replica, stages);

    /// <summary>Extra deployments of the same checkpoint, by name → (stages, layer split).</summary>
    protected virtual IEnumerable<(string Name, int Stages, int[] LayerSplit)> ExtraModels() => [];

    public async Task InitializeAsync()
    {
        WholeModel = ModelShard.Load(_checkpoint.Path);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings()).Build();
        var builder = new InProcessTestClusterBuilder(SiloCount);
        builder.Options.AssumeHomogenousSilosForTesting = false;
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseClusterStages(configuration);
            silo.Services.AddKeyedSingleton<TimeProvider>(StageClock.Key, Clock);
        });
        builder.ConfigureClient(client => client.Configure<ClientMessagingOptions>(o => o.MaxMessageBodySize = ClusterMessaging.MaxMessageBodySize));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    private Dictionary<string, string?> Settings()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Cluster:Stages:KvBudgetBytes"] = KvBudgetBytes.ToString(),
            ["Cluster:Stages:IdleSessionExpiry"] = IdleExpiry.ToString(),
            ["Cluster:Stages:ExpiryCheckPeriod"] = "01:00:00", // tests call ExpireIdleSessions themselves
            ["Cluster:Stages:Device"] = "cpu",
            ["Cluster:Stages:DType"] = "float32",
        };
        var models = new List<(string Name, int Stages, int[] LayerSplit)> { (Model, Stages, []) };
        models.AddRange(ExtraModels());
        for (var i = 0; i < models.Count; i++)
        {
            settings[$"Cluster:Models:{i}:Name"] = models[i].Name;
            settings[$"Cluster:Models:{i}:Path"] = _checkpoint.Path;
            settings[$"Cluster:Models:{i}:Stages"] = models[i].Stages.ToString();
            settings[$"Cluster:Models:{i}:Replicas"] = "4";
            for (var j = 0; j < models[i].LayerSplit.Length; j++)
            {
                settings[$"Cluster:Models:{i}:LayerSplit:{j}"] = models[i].LayerSplit[j].ToString();
            }
        }
        return settings;
    }

    public async Task DisposeAsync()
    {
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }
        WholeModel?.Dispose();
        _checkpoint.Dispose();
    }
}

/// <summary>Two silos, the model cut into two stages; also a one-stage deployment and an uneven and an invalid layer split.</summary>
public sealed class TwoSiloCluster() : StageClusterFixture(2, 2)
{
    public const string Collection = "two silos";

    protected override IEnumerable<(string Name, int Stages, int[] LayerSplit)> ExtraModels() =>
        [("llama-whole", 1, []), ("llama-split", 2, [1, 3]), ("llama-badsplit", 2, [1, 1])];
}

/// <summary>Three silos, the model cut into three stages (layers [0,2), [2,3), [3,4)).</summary>
public sealed class ThreeSiloCluster() : StageClusterFixture(3, 3)
{
    public const string Collection = "three silos";
}

[CollectionDefinition(TwoSiloCluster.Collection)]
public sealed class TwoSiloCollection : ICollectionFixture<TwoSiloCluster>;

[CollectionDefinition(ThreeSiloCluster.Collection)]
public sealed class ThreeSiloCollection : ICollectionFixture<ThreeSiloCluster>;
