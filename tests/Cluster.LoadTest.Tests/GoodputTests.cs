namespace Cluster.LoadTest.Tests;

public sealed class GoodputTests
{
    private static readonly RequestRecord[] Mixed =
    [
        Records.Ok(ttft: 0.050, tpot: 0.010, tokens: 10),        // meets all
        Records.Ok(ttft: 0.200, tpot: 0.010, tokens: 10),        // TTFT too slow
        Records.Ok(ttft: 0.050, tpot: 0.030, tokens: 10),        // TPOT too slow
        Records.Ok(ttft: 0.050, tpot: 0.019, tokens: 50),        // E2E 0.981 s too slow
        Records.Ok(ttft: 0.090, tpot: 0, tokens: 1),             // one token: no TPOT, meets all
        RequestRecord.Failed(0.010, "ResourceExhausted"),        // failed: never good
    ];

    [Fact]
    public void Goodput_counts_requests_that_met_every_objective()
    {
        var objectives = new ServiceLevelObjectives(TimeToFirstTokenMs: 100, TimePerOutputTokenMs: 20, EndToEndMs: 500);
        var result = LevelResult.From("test", LoadLevel.AtRate(4), durationSeconds: 2, Mixed, objectives);

        var good = Mixed.Select((r, i) => (i, met: objectives.MetBy(r))).Where(p => p.met).Select(p => p.i).ToList();
        Assert.True(good.SequenceEqual([0, 4]), $"requests meeting the objectives: {string.Join(", ", good)}; expected 0, 4");
        Assert.Equal(2, result.GoodRequests);
        Assert.Equal(1.0, result.GoodputRequestsPerSecond!.Value, 9);
        Assert.Equal(5, result.Completed);
        Assert.Equal(new Dictionary<string, int> { ["ResourceExhausted"] = 1 }, result.ErrorsByStatus);
    }

    [Fact]
    public void Each_objective_alone_counts_only_itself()
    {
        Assert.Equal(4, LevelResult.From("t", LoadLevel.AtConcurrency(1), 1, Mixed, new ServiceLevelObjectives(TimeToFirstTokenMs: 100)).GoodRequests);
        Assert.Equal(4, LevelResult.From("t", LoadLevel.AtConcurrency(1), 1, Mixed, new ServiceLevelObjectives(TimePerOutputTokenMs: 20)).GoodRequests);
        Assert.Equal(4, LevelResult.From("t", LoadLevel.AtConcurrency(1), 1, Mixed, new ServiceLevelObjectives(EndToEndMs: 500)).GoodRequests);
    }

    [Fact]
    public void Without_objectives_there_is_no_goodput()
    {
        var result = LevelResult.From("t", LoadLevel.AtConcurrency(1), 1, Mixed, ServiceLevelObjectives.None);
        Assert.Null(result.GoodRequests);
        Assert.Null(result.GoodputRequestsPerSecond);
    }
}
