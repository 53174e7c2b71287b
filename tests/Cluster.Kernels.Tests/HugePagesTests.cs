using System.Globalization;
using System.Runtime.InteropServices;

namespace Cluster.Kernels.Tests;

/// <summary>
/// Moving weights onto 2 MiB pages keeps every byte and address, and on a Linux whose transparent huge pages are not
/// off it really happens (the block's mapping then reports huge pages in /proc/self/smaps).
/// </summary>
public sealed unsafe class HugePagesTests
{
    [Fact]
    public void Collapsing_a_block_keeps_its_contents_and_puts_it_on_huge_pages_where_linux_allows()
    {
        const int floats = 3 << 20; // 12 MiB: at least four whole 2 MiB pages inside, wherever the block starts
        var block = (float*)NativeMemory.AlignedAlloc(floats * sizeof(float), 64);
        try
        {
            for (var i = 0; i < floats; i++)
            {
                block[i] = i * 0.5f;
            }
            var collapsed = HugePages.Collapse(block, (long)floats * sizeof(float));
            for (var i = 0; i < floats; i++)
            {
                if (block[i] != i * 0.5f)
                {
                    Assert.Fail($"Element {i} is {block[i]} after the collapse, was {i * 0.5f}.");
                }
            }
            var setting = TransparentHugePagesSetting();
            if (!OperatingSystem.IsLinux() || setting is null or "never")
            {
                Assert.False(collapsed, $"Collapse reported success where huge pages are unavailable (setting: {setting ?? "none"}).");
                return;
            }
            Assert.True(collapsed, $"Collapse failed with transparent huge pages '{setting}' (errno {Marshal.GetLastPInvokeError()}).");
            var hugeKb = AnonHugePagesKb((nint)block);
            Assert.True(hugeKb >= 4 * 2048, $"The block's mapping reports {hugeKb} kB on huge pages after the collapse; expected at least 4 whole 2 MiB pages.");
        }
        finally
        {
            NativeMemory.AlignedFree(block);
        }
    }

    [Fact]
    public void A_block_without_a_whole_huge_page_inside_is_left_alone()
    {
        var block = (byte*)NativeMemory.AlignedAlloc(1 << 20, 64);
        try
        {
            Assert.False(HugePages.Collapse(block, 1 << 20), "A 1 MiB block holds no whole 2 MiB page, yet Collapse reported success.");
        }
        finally
        {
            NativeMemory.AlignedFree(block);
        }
    }

    /// <summary>The bracketed choice in /sys/kernel/mm/transparent_hugepage/enabled, or null where there is none.</summary>
    private static string? TransparentHugePagesSetting()
    {
        const string path = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!File.Exists(path))
        {
            return null;
        }
        var text = File.ReadAllText(path);
        var open = text.IndexOf('[');
        var close = text.IndexOf(']');
        return open >= 0 && close > open ? text[(open + 1)..close] : null;
    }

    /// <summary>AnonHugePages of the /proc/self/smaps mapping that holds <paramref name="address"/>.</summary>
    private static long AnonHugePagesKb(nint address)
    {
        var inMapping = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-');
            var space = line.IndexOf(' ');
            if (dash > 0 && space > dash && long.TryParse(line[..dash], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start)
                && long.TryParse(line[(dash + 1)..space], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var end))
            {
                inMapping = address >= start && address < end;
            }
            else if (inMapping && line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
        }
        throw new InvalidOperationException($"No mapping in /proc/self/smaps holds address 0x{address:x}.");
    }
}
