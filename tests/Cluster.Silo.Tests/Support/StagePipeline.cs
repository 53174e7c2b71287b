using Cluster.Contracts.Stages;

namespace Cluster.Silo.Tests.Support;

/// <summary>
/// Drives one replica's stage grains by hand, as the gateway will: each step goes stage 0 → … → last, the hidden
/// states of one stage passed to the next, and the last stage's sampled tokens fed back as the next step's input.
/// </summary>
public sealed class StagePipeline(IClusterClient client, string model, int replica, int stageCount)
{
    private long _stepId;

    public int StageCount => stageCount;

    public IStageGrain Stage(int stage) => client.GetGrain<IStageGrain>(new StageKey(model, replica, stage).ToString());

    public IEnumerable<IStageGrain> Stages => Enumerable.Range(0, stageCount).Select(Stage);

    /// <summary>Runs one step through every stage; fails, naming the stage, if one did not compute.</summary>
    public async Task<StageResult> Step(params StageEntry[] entries)
    {
        var (result, stage) = await TryStep(entries);
        Assert.True(result.Computed, $"{model}/{replica}: stage {stage} did not compute: missing [{string.Join(", ", result.MissingSessions)}], over budget [{string.Join(", ", result.OverBudgetSessions)}]");
        return result;
    }

    /// <summary>Runs one step until a stage does not compute; returns that stage's result (or the last one's) and its index.</summary>
    public async Task<(StageResult Result, int Stage)> TryStep(params StageEntry[] entries)
    {
        var batchId = Interlocked.Increment(ref _stepId);
        HiddenStates? hidden = null;
        StageResult result = null!;
        for (var stage = 0; stage < stageCount; stage++)
        {
            result = await Stage(stage).Forward(new StageBatch(batchId, entries, hidden));
            if (!result.Computed)
            {
                return (result, stage);
            }
            hidden = result.Hidden;
        }
        return (result, stageCount - 1);
    }

    /// <summary>
    /// Prefills <paramref name="prompt"/> and decodes until <paramref name="count"/> tokens are sampled, one session,
    /// one token per step. Returns every sampled token.
    /// </summary>
    /// <param name="prefixFrom">A session holding <paramref name="prompt"/>'s first <paramref name="prefixTokens"/> tokens: the first step copies them from it (a prefix-cache hit) and computes only the rest.</param>
    public async Task<List<SampledTokenResult>> Generate(string sessionId, int[] prompt, int count, SamplingRequest sampling, string? prefixFrom = null, int prefixTokens = 0)
    {
        var tokens = new List<SampledTokenResult>();
        var input = prompt[prefixTokens..];
        var position = prefixTokens;
        while (tokens.Count < count)
        {
            var prefix = prefixFrom is not null && tokens.Count == 0 ? new PrefixSource(prefixFrom, prompt[..prefixTokens]) : null;
            var entry = new StageEntry(sessionId, position, input, prompt.Length + count, sampling with { DrawIndex = tokens.Count }, prefix);
            var result = await Step(entry);
            Assert.Single(result.Tokens);
            tokens.Add(result.Tokens[0]);
            position += input.Length;
            input = [result.Tokens[0].TokenId];
        }
        return tokens;
    }

    public async Task Release(string sessionId, CacheRelease release)
    {
        foreach (var stage in Stages)
        {
            await stage.Release([sessionId], release);
        }
    }

    public async Task<StageStatus[]> Statuses()
    {
        var statuses = new List<StageStatus>();
        foreach (var stage in Stages)
        {
            statuses.Add(await stage.GetStatus());
        }
        return statuses.ToArray();
    }

    public static string Describe(StageStatus[] statuses) =>
        string.Join("; ", statuses.Select((s, i) => $"stage {i}: {s.ActiveSessions} active, {s.IdleSessions} idle, {s.KvBytes} B, {s.TokensComputed} tokens, {s.Steps} steps"));
}
