using Cluster.Silo.Stages;

namespace Cluster.Silo.Tests.Hosting;

/// <summary>The stage options reach the engine: the weight dtype travels with device and dtype, and an empty one is rejected.</summary>
public sealed class StageOptionsTests
{
    [Fact]
    public void Weight_dtype_is_passed_to_the_engine_options()
    {
        var engine = new StageOptions { DType = "float32", WeightDType = "bfloat16", CpuThreads = 2 }.ToEngineOptions();
        Assert.Equal("bfloat16", engine.WeightDType);
        Assert.Equal("float32", engine.DType);
        Assert.Equal(2, engine.CpuThreads);
    }

    [Fact]
    public void An_empty_weight_dtype_fails_validation_naming_it()
    {
        var result = new StageOptionsValidator().Validate(null, new StageOptions { WeightDType = " " });
        Assert.True(result.Failed, "An empty WeightDType passed validation.");
        Assert.Contains("WeightDType", result.FailureMessage);
    }
}
