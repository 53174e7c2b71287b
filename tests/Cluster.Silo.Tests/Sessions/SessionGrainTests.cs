using Cluster.Contracts.Sessions;
using Cluster.Silo.Tests.Support;

namespace Cluster.Silo.Tests.Sessions;

/// <summary>A session: created once, one turn at a time, its history kept between turns, a stale turn taken over after the timeout.</summary>
[Collection(TwoSiloCluster.Collection)]
public sealed class SessionGrainTests(TwoSiloCluster cluster)
{
    private ISessionGrain Session(string id) => cluster.Client.GetGrain<ISessionGrain>(id);

    [Fact]
    public async Task ATurnSeesTheHistoryTheLastTurnEnded()
    {
        var session = Session("conversation-1");
        Assert.Null(await session.BeginTurn("before-create"));
        Assert.True(await session.Create("llama", 1));
        Assert.False(await session.Create("llama", 2));

        var first = await session.BeginTurn("turn-1");
        Assert.Equal(new SessionSnapshot("llama", 1, [], 0) with { History = first!.History }, first);
        Assert.Empty(first.History);
        await session.EndTurn("turn-1", [1, 2, 3, 4], 3);

        var second = await session.BeginTurn("turn-2");
        Assert.Equal([1, 2, 3, 4], second!.History);
        Assert.Equal(3, second.CachedLength);
        Assert.Equal(1, second.Replica);

        var deleted = await session.Delete();
        Assert.Equal([1, 2, 3, 4], deleted!.History);
        Assert.Null(await Session("conversation-1").BeginTurn("turn-3"));
    }

    [Fact]
    public async Task OnlyTheOwnerMayBeginATurnOrDeleteAndAnotherOwnersAttemptsChangeNothing()
    {
        var session = Session("conversation-owned");
        Assert.True(await session.Create("llama", 0, "team-a"));

        var turn = await Assert.ThrowsAsync<SessionOwnedByAnotherException>(() => session.BeginTurn("by-b", "team-b"));
        Assert.DoesNotContain("team-a", turn.Message); // the owner's name is not told to others
        await Assert.ThrowsAsync<SessionOwnedByAnotherException>(() => session.BeginTurn("anonymous"));
        await Assert.ThrowsAsync<SessionOwnedByAnotherException>(() => session.Delete("team-b"));

        var own = await session.BeginTurn("by-a", "team-a"); // not blocked by the refused turns
        Assert.Equal("team-a", own!.Owner);
        await session.EndTurn("by-a", [7], 0);
        var deleted = await session.Delete("team-a");
        Assert.Equal([7], deleted!.History);
        Assert.Null(await session.Delete("team-b")); // gone: NOT_FOUND for anyone
    }

    [Fact]
    public async Task ARenewedTurnKeepsTheSessionPastTheTimeoutAndAnUnrenewedOneIsTakenOver()
    {
        var session = Session("conversation-renewed");
        await session.Create("llama", 0);
        await session.BeginTurn("long");
        for (var i = 0; i < 4; i++)
        {
            cluster.Clock.Advance(TimeSpan.FromSeconds(45)); // 3 minutes in all, each step inside the 1-minute timeout
            Assert.True(await session.RenewTurn("long"), $"Renewal {i} of the running turn was refused.");
        }
        var busy = await Assert.ThrowsAsync<SessionBusyException>(() => session.BeginTurn("other"));
        Assert.Contains("busy with request 'long'", busy.Message);

        cluster.Clock.Advance(TimeSpan.FromSeconds(61)); // its gateway died: no renewal for longer than the timeout
        Assert.NotNull(await session.BeginTurn("other"));
        Assert.False(await session.RenewTurn("long"), "The taken-over turn's renewal should be refused.");
        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => session.EndTurn("long", [1], 1));
        await session.EndTurn("other", [5], 1);
        Assert.False(await session.RenewTurn("other"), "An ended turn's renewal should be refused.");
        await session.Delete();
    }

    [Fact]
    public async Task ASecondTurnIsRefusedWhileOneRunsAndTakesOverAfterTheTimeout()
    {
        var session = Session("conversation-2");
        await session.Create("llama", 0);
        await session.BeginTurn("first");

        var busy = await Assert.ThrowsAsync<SessionBusyException>(() => session.BeginTurn("second"));
        Assert.Contains("busy with request 'first'", busy.Message);
        Assert.NotNull(await session.BeginTurn("first")); // the same request retrying its begin is fine

        cluster.Clock.Advance(TimeSpan.FromMinutes(2)); // default TurnTimeout: 1 minute
        Assert.NotNull(await session.BeginTurn("second"));
        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => session.EndTurn("first", [9], 1));
        await session.EndTurn("second", [7, 8], 2);
        var third = await session.BeginTurn("third");
        Assert.Equal([7, 8], third!.History);
        await session.Delete();
    }
}
