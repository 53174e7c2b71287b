using System.Collections.Concurrent;
using LLama.Native;

namespace Cluster.PeerBenchmark.Runners;

/// <summary>
/// Loads llama.cpp's native library once, with its log routed here: warnings and errors are kept (and quoted when a
/// load or a decode fails) instead of flooding the benchmark's output. Set CLUSTER_PEER_LLAMA_LOG=1 to print everything.
/// </summary>
public static class LlamaCppNative
{
    private static readonly ConcurrentQueue<string> Problems = new();
    private static readonly Lock Gate = new();
    private static bool _initialized;

    public static void Initialize()
    {
        lock (Gate)
        {
            if (_initialized)
            {
                return;
            }
            var verbose = Environment.GetEnvironmentVariable("CLUSTER_PEER_LLAMA_LOG") == "1";
            NativeLibraryConfig.All.WithLogCallback((level, message) =>
            {
                if (verbose)
                {
                    Console.Error.Write(message);
                }
                if (level is LLamaLogLevel.Warning or LLamaLogLevel.Error)
                {
                    Problems.Enqueue(message.TrimEnd());
                    while (Problems.Count > 50 && Problems.TryDequeue(out _))
                    {
                    }
                }
            });
            NativeApi.llama_empty_call();
            _initialized = true;
        }
    }

    /// <summary>The last warnings and errors llama.cpp logged, as text to append to an exception message.</summary>
    public static string RecentErrors() => Problems.IsEmpty ? "" : " llama.cpp said: " + string.Join(" | ", Problems.TakeLast(5));
}
