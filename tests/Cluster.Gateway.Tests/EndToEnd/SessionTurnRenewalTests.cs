using Cluster.Contracts.Api;
using Cluster.Contracts.Sessions;
using Cluster.Testing;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// One turn at a time per session, without a dead gateway blocking it for long: the gateway renews a running turn, so
/// the turn outlives the silos' turn timeout; a turn nobody renews (its gateway died) frees the session once the
/// timeout passes. The timeout is shortened to two seconds here, so the waits are real time.
/// </summary>
public sealed class SessionTurnRenewalTests
{
    private static readonly TimeSpan TurnTimeout = TimeSpan.FromSeconds(2); // 20 renewal periods: a busy CI machine cannot stall them all

    [Fact]
    public async Task ARenewedTurnOutlivesTheTimeoutAndAnAbandonedOneFreesTheSessionAfterIt()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 1,
            model: TinyModelOptions.Llama with { MaxPositionEmbeddings = 2048 }, settings: new Dictionary<string, string?>
            {
                ["Cluster:Sessions:TurnTimeout"] = TurnTimeout.ToString(),
                ["Gateway:SessionTurnRenewPeriod"] = "00:00:00.100",
            });
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest())).SessionId;
        var next = new GenerateRequest { Text = "next", SessionId = session, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 2 } };

        // A turn that stays open: its client does not read, and HTTP/2 flow control holds the gateway's writes
        // (20 alternatives per token over 2000 tokens is far more than the 64 KB window).
        using var cancelHeld = new CancellationTokenSource();
        using var held = cluster.Client.Generate(new GenerateRequest
        {
            Text = "hold", SessionId = session, Logprobs = true, TopLogprobs = 20,
            Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 2000, IgnoreEos = true },
        }, cancellationToken: cancelHeld.Token);
        Assert.True(await held.ResponseStream.MoveNext(CancellationToken.None), "The held turn ended before its first message.");

        // Two and a half timeouts later, renewed all along, it still holds the session.
        await Task.Delay(TurnTimeout * 2.5);
        var busy = await Assert.ThrowsAsync<RpcException>(() => ShardedGenerationTests.GenerateAsync(cluster, next));
        Assert.True(busy.StatusCode == StatusCode.FailedPrecondition && busy.Status.Detail.Contains("busy"),
            $"A renewed turn {TurnTimeout * 2.5} in should still hold the session; another turn got {busy.StatusCode}: {busy.Status.Detail}");
        cancelHeld.Cancel();

        // A turn begun by a gateway that then died (nobody renews it): refused at first, free once the timeout passes.
        await WaitForTurnAsync(cluster, next, "the cancelled turn to end");
        Assert.NotNull(await cluster.Grains.GetGrain<ISessionGrain>(session).BeginTurn("turn-of-a-dead-gateway"));
        var refused = await Assert.ThrowsAsync<RpcException>(() => ShardedGenerationTests.GenerateAsync(cluster, next));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        var turn = await WaitForTurnAsync(cluster, next, "the abandoned turn to time out");
        Assert.Equal(2, turn.Tokens.Count);
    }

    /// <summary>Retries a turn on the session until it is no longer busy; fails after 10 s naming <paramref name="what"/>.</summary>
    private static async Task<(List<int> Tokens, GenerateResponse Last)> WaitForTurnAsync(ClusterUnderTest cluster, GenerateRequest request, string what)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            try
            {
                return await ShardedGenerationTests.GenerateAsync(cluster, request);
            }
            catch (RpcException busy) when (busy.StatusCode == StatusCode.FailedPrecondition && !limit.IsCancellationRequested)
            {
                await Task.Delay(50);
            }
            catch (RpcException busy) when (busy.StatusCode == StatusCode.FailedPrecondition)
            {
                Assert.Fail($"Timed out after 10 s waiting for {what}: {busy.Status.Detail}");
            }
        }
    }
}
