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
    public void A_models_weight_dtype_overrides_the_silos_and_an_empty_one_keeps_it()
    {
        var silo = new StageOptions { DType = "float32", WeightDType = "float32" };
        var bf16 = silo.ToEngineOptions(new Cluster.Hosting.ModelDeployment { Name = "a", Path = "/m", WeightDType = " bfloat16 " });
        var inherited = silo.ToEngineOptions(new Cluster.Hosting.ModelDeployment { Name = "b", Path = "/m" });
        Assert.True(bf16.WeightDType == "bfloat16" && inherited.WeightDType == "float32" && bf16.DType == "float32",
            $"model with bfloat16: {bf16.WeightDType} ({bf16.DType}); model without: {inherited.WeightDType}");
    }

    [Fact]
    public void The_kv_cache_dtype_is_passed_to_every_models_engine_options_and_an_empty_one_fails_validation()
    {
        var silo = new StageOptions { DType = "float32", KvCacheDType = "bfloat16" };
        var engine = silo.ToEngineOptions(new Cluster.Hosting.ModelDeployment { Name = "a", Path = "/m", WeightDType = "bfloat16" });
        Assert.True(engine.KvCacheDType == "bfloat16" && engine.WeightDType == "bfloat16",
            $"engine options: KvCacheDType {engine.KvCacheDType}, WeightDType {engine.WeightDType}");
        var result = new StageOptionsValidator().Validate(null, new StageOptions { KvCacheDType = "" });
        Assert.True(result.Failed && result.FailureMessage.Contains("KvCacheDType"), $"An empty KvCacheDType: {result.FailureMessage ?? "passed"}");
    }

    [Fact]
    public void An_empty_weight_dtype_fails_validation_naming_it()
    {
        var result = new StageOptionsValidator().Validate(null, new StageOptions { WeightDType = " " });
        Assert.True(result.Failed, "An empty WeightDType passed validation.");
        Assert.Contains("WeightDType", result.FailureMessage);
    }
}
