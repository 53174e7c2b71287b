using Cluster.Gateway.Models;

namespace Cluster.Gateway.Tests.Models;

/// <summary>Cache-aware routing: prefix affinity while the replica holding the prefix is not overloaded, spill-over when it is.</summary>
public sealed class ReplicaRoutingTests
{
    [Fact]
    public void TheReplicaHoldingTheLongestPrefixWinsWhileItsLoadIsWithinTheSlack()
    {
        var chosen = ReplicaRouting.Choose(loads: [6, 0, 3], cachedTokens: [0, 16, 48], firstBlock: 1UL, maxExtraLoad: 8);
        Assert.Equal(2, chosen);
    }

    [Fact]
    public void AReplicaMoreThanTheSlackBeyondTheLeastLoadedIsPassedOverForAnotherHoldingLess()
    {
        var chosen = ReplicaRouting.Choose(loads: [2, 11, 4], cachedTokens: [0, 64, 16], firstBlock: 1UL, maxExtraLoad: 8);
        Assert.Equal(2, chosen);
    }

    [Fact]
    public void WithNoCachedPrefixRequestsSharingAFirstBlockMeetOnOneReplicaUntilItIsOverloaded()
    {
        int[] loads = [0, 0, 0, 0];
        var first = ReplicaRouting.Choose(loads, [0, 0, 0, 0], firstBlock: 12345UL, maxExtraLoad: 2);
        var choices = new List<int>();
        for (var request = 0; request < 6; request++)
        {
            var replica = ReplicaRouting.Choose(loads, [0, 0, 0, 0], firstBlock: 12345UL, maxExtraLoad: 2);
            choices.Add(replica);
            loads[replica]++;
        }
        // 3 requests fit the slack of 2 over the least loaded (0); the 4th spills elsewhere.
        Assert.True(choices.Take(3).All(c => c == first) && choices[3] != first,
            $"choices [{string.Join(", ", choices)}]; expected three on replica {first}, then a spill-over");
        var other = ReplicaRouting.Choose([0, 0, 0, 0], [0, 0, 0, 0], firstBlock: 999UL, maxExtraLoad: 2);
        var spread = Enumerable.Range(0, 64).Select(b => ReplicaRouting.Choose([0, 0, 0, 0], [0, 0, 0, 0], (ulong)b * 7919, 2)).Distinct().Count();
        Assert.True(spread == 4, $"64 different first blocks used {spread} of 4 replicas; rendezvous hashing should spread them (one example went to {other})");
    }

    [Fact]
    public void WithoutAWholeBlockOrWithNoSlackTheLeastLoadedWins()
    {
        Assert.Equal(1, ReplicaRouting.Choose([3, 1, 2], [0, 0, 0], firstBlock: null, maxExtraLoad: 8));
        Assert.Equal(1, ReplicaRouting.Choose([3, 1, 2], [64, 0, 64], firstBlock: 5UL, maxExtraLoad: 0));
    }
}
