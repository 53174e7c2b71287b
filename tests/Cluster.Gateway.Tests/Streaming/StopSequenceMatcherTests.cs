using Cluster.Gateway.Streaming;

namespace Cluster.Gateway.Tests.Streaming;

/// <summary>Where a stop sequence starts in a text, and where text that may still become one starts.</summary>
public sealed class StopSequenceMatcherTests
{
    [Theory]
    [InlineData("Hello world", "world", 6, "world", 6)]
    [InlineData("Hello wor", "world", -1, null, 6)]
    [InlineData("Hello", "world", -1, null, 5)]
    [InlineData("abc", "abcd|bc", 1, "bc", 1)] // a whole stop sequence wins over an earlier partial one
    [InlineData("Hello world", "world|o w", 4, "o w", 4)] // the earliest start wins
    [InlineData("xxab", "abc|b", 3, "b", 3)]
    [InlineData("aab", "aac", -1, null, 3)]
    [InlineData("aaa", "aab", -1, null, 1)]
    [InlineData("", "a", -1, null, 0)]
    public void Scan_finds_the_earliest_stop_or_the_earliest_possible_one(string text, string stops, int stopStart, string? stop, int holdFrom)
    {
        var matcher = new StopSequenceMatcher(stops.Split('|'));

        StopScan scan = matcher.Scan(text);

        Assert.True(scan == new StopScan(stopStart, stop, holdFrom), $"\"{text}\" with stops [{stops}]: got {scan}, expected {new StopScan(stopStart, stop, holdFrom)}");
    }

    [Fact]
    public void Duplicates_count_once_and_empty_stops_are_refused()
    {
        var matcher = new StopSequenceMatcher(["ab", "ab", "abc"]);

        Assert.Equal(2, matcher.Count);
        Assert.Equal(3, matcher.LongestLength);
        Assert.Throws<ArgumentException>(() => new StopSequenceMatcher(["a", ""]));
    }
}
