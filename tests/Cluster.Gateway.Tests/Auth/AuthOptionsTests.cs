using Cluster.Gateway.Auth;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.Tests.Auth;

/// <summary>Gateway:Auth is checked at start, with messages that name the entry but never show a key.</summary>
public sealed class AuthOptionsTests
{
    private static readonly string GoodKey = new('k', AuthOptions.MinKeyLength);

    public static TheoryData<string, ApiKeyOptions[], string> BadSettings() => new()
    {
        { "a key shorter than the minimum", [new() { Name = "team", Key = "REPLACE-ME" }], $"at least {AuthOptions.MinKeyLength}" },
        { "no name", [new() { Key = GoodKey }], "needs a Name" },
        { "two entries with one key", [new() { Name = "a", Key = GoodKey }, new() { Name = "b", Key = GoodKey }], "same key" },
        { "a negative limit", [new() { Name = "team", Key = GoodKey, TokensPerMinute = -1 }], ">= 0" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void BadSettingsFailAtStartWithoutShowingAKey(string name, ApiKeyOptions[] keys, string mention)
    {
        var error = Assert.Throws<ArgumentException>(() => new AuthOptions { Keys = [.. keys] }.Validate());
        Assert.True(error.Message.Contains(mention, StringComparison.Ordinal), $"{name}: '{error.Message}' should mention '{mention}'.");
        Assert.True(keys.All(k => k.Key.Length == 0 || !error.Message.Contains(k.Key, StringComparison.Ordinal)), $"{name}: the message shows a key: '{error.Message}'.");
    }

    [Fact]
    public void TheRegistryFindsTheTenantOfAPresentedKeyAndNothingForAnyOtherString()
    {
        using var registry = new ApiKeyRegistry(Options.Create(new AuthOptions
        {
            Keys = [new() { Name = "team-a", Key = GoodKey }, new() { Name = "team-b", Key = GoodKey + "b" }, new() { Name = "team-a", Key = GoodKey + "rotated" }],
        }));
        Assert.True(registry.Enabled);
        Assert.Equal("team-a", registry.Find(GoodKey)?.Name);
        Assert.Equal("team-b", registry.Find(GoodKey + "b")?.Name);
        Assert.Equal("team-a", registry.Find(GoodKey + "rotated")?.Name); // a second key of the same tenant (rotation)
        string[] others = ["", GoodKey[..^1], GoodKey + " ", GoodKey.ToUpperInvariant(), "team-a"];
        var found = others.Where(k => registry.Find(k) is not null).ToList();
        Assert.True(found.Count == 0, $"Keys that are not configured found a tenant: [{string.Join(", ", found.Select(k => $"'{k}'"))}].");
    }

    [Fact]
    public void NoKeysMeansAuthIsOff()
    {
        using var registry = new ApiKeyRegistry(Options.Create(new AuthOptions()));
        Assert.False(registry.Enabled);
    }
}
