using Cluster.Contracts.Responses;
using Cluster.Silo.Responses;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Cluster.Silo.Tests.Responses;

/// <summary>
/// A silo's stored responses stay within their byte budget, the least recently used dropped first to make room, one
/// unused for KeepFor gone, one larger than the whole budget not kept; reading one counts as a use.
/// </summary>
public class StoredResponseCacheTests
{
    private readonly FakeTimeProvider _clock = new();

    private StoredResponseCache Cache(long maxBytes) =>
        new(Options.Create(new StoredResponseOptions { MaxBytes = maxBytes, KeepFor = TimeSpan.FromMinutes(10) }), _clock);

    /// <summary>A response of about <paramref name="kilobytes"/> KiB once stored (two bytes a character).</summary>
    private static StoredResponse Response(int kilobytes) => new("owner", "model", new string('c', kilobytes * 512), "{}");

    [Fact]
    public void PastTheBudgetTheLeastRecentlyUsedGoFirst()
    {
        // Four of about 2.3 KB fill 9.3 KB of 11 KiB; one of 3.4 KB more needs one of them out.
        var cache = Cache(maxBytes: 11 * 1024);
        for (var i = 0; i < 4; i++)
        {
            Assert.True(cache.Set($"r{i}", Response(2)));
        }
        Assert.NotNull(cache.Get("r0")); // r0 used again: r1 is now the least recently used
        Assert.True(cache.Set("r4", Response(3)));

        Assert.Null(cache.Get("r1"));
        Assert.All((string[])["r0", "r2", "r3", "r4"], id => Assert.NotNull(cache.Get(id)));
        Assert.True(cache.Bytes <= 11 * 1024, $"{cache.Bytes} bytes kept; the budget is {11 * 1024}");
    }

    [Fact]
    public void OneUnusedForKeepForIsGone_AndOneLargerThanTheBudgetIsNotKept()
    {
        var cache = Cache(maxBytes: 10 * 1024);
        cache.Set("old", Response(1));
        cache.Set("used", Response(1));
        _clock.Advance(TimeSpan.FromMinutes(6));
        Assert.NotNull(cache.Get("used"));
        _clock.Advance(TimeSpan.FromMinutes(6));
        Assert.Null(cache.Get("old"));
        Assert.NotNull(cache.Get("used"));

        Assert.False(cache.Set("huge", Response(11)));
        Assert.Null(cache.Get("huge"));
        Assert.NotNull(cache.Get("used")); // a response too large for the budget evicts nothing
    }

    [Fact]
    public void StoringTheSameIdAgainReplacesIt_AndRemoveFreesItsBytes()
    {
        var cache = Cache(maxBytes: 10 * 1024);
        cache.Set("r", Response(4));
        var once = cache.Bytes;
        cache.Set("r", Response(4));
        Assert.Equal(once, cache.Bytes);
        Assert.True(cache.Remove("r"));
        Assert.Equal(0, cache.Bytes);
        Assert.False(cache.Remove("r"));
    }
}
