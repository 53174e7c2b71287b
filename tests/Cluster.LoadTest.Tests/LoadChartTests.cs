namespace Cluster.LoadTest.Tests;

public sealed class LoadChartTests
{
    [Fact]
    public void The_chart_is_written_as_a_png_headless()
    {
        var path = Path.Combine(Path.GetTempPath(), $"loadtest-chart-{Guid.NewGuid():N}.png");
        try
        {
            LoadChart.WritePng(path, LoadReportTests.SampleSweep());

            var bytes = File.ReadAllBytes(path);
            byte[] signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
            Assert.True(bytes.Length > 10_000, $"the PNG has only {bytes.Length} bytes: nothing was drawn?");
            Assert.Equal(signature, bytes[..8]);
            // IHDR: width and height, big-endian, at bytes 16 and 20.
            Assert.Equal(1000, (bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19]);
            Assert.Equal(600, (bytes[20] << 24) | (bytes[21] << 16) | (bytes[22] << 8) | bytes[23]);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
