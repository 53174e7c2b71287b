using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Cluster.Engine.Model;
using Cluster.Kernels;

namespace Cluster.Engine.Sampling;

/// <summary>
/// Samples every row of a step's logits, the rows split over the kernel team's threads. Each sequence's
/// <see cref="TokenSampler"/> owns its random stream and only its row is read, so the tokens are those of sampling the
/// rows one after another, in any split. Greedy sampling of one 50k-vocabulary row costs about 0.13 ms on this VM
/// (a pass over the logits for the arg-max, one of exponentials for the log-probability), 4-5 ms a step at 32 sequences
/// on the device thread alone while the team's other threads, awake from the LM head, waited.
/// </summary>
public static unsafe class StepSampling
{
    /// <summary>
    /// Row i of <paramref name="logits"/> through <paramref name="samplers"/>[i] with <paramref name="histories"/>[i]
    /// (a sampler, as its sequence, appears at most once). A sampler that throws fails the call with its own
    /// exception, the lowest row's first, after every row was tried.
    /// </summary>
    public static SampledToken[] Sample(HostLogits logits, IReadOnlyList<TokenSampler> samplers, IReadOnlyList<IReadOnlyList<int>> histories,
        KernelTeam? team = null)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(samplers);
        ArgumentNullException.ThrowIfNull(histories);
        if (samplers.Count != histories.Count || samplers.Count > logits.Rows)
        {
            throw new ArgumentException(
                $"Sampling needs one sampler and one history per logits row: {samplers.Count} samplers, {histories.Count} histories, {logits.Rows} rows.");
        }
        var job = new Job(logits, samplers, histories);
        var runner = team ?? KernelTeam.Shared;
        var parts = Math.Min(runner.Threads, samplers.Count);
        if (parts <= 1)
        {
            job.RunRows(0, samplers.Count);
        }
        else
        {
            var handle = GCHandle.Alloc(job);
            try
            {
                runner.Run(&RunPart, (void*)GCHandle.ToIntPtr(handle), parts);
            }
            finally
            {
                handle.Free();
            }
        }
        if (job.Failures.FirstOrDefault(f => f is not null) is { } failure)
        {
            ExceptionDispatchInfo.Capture(failure).Throw();
        }
        return job.Results;
    }

    private static void RunPart(void* state, int part, int parts)
    {
        var job = (Job)GCHandle.FromIntPtr((IntPtr)state).Target!;
        var rows = job.Results.Length;
        job.RunRows((int)((long)rows * part / parts), (int)((long)rows * (part + 1) / parts));
    }

    private sealed class Job(HostLogits logits, IReadOnlyList<TokenSampler> samplers, IReadOnlyList<IReadOnlyList<int>> histories)
    {
        public SampledToken[] Results { get; } = new SampledToken[samplers.Count];

        public Exception?[] Failures { get; } = new Exception?[samplers.Count];

        /// <summary>Rows [first, end); each part writes only its own rows of the results.</summary>
        public void RunRows(int first, int end)
        {
            for (var row = first; row < end; row++)
            {
                try
                {
                    Results[row] = samplers[row].Sample(logits.Row(row), histories[row]);
                }
                catch (Exception e)
                {
                    Failures[row] = e;
                }
            }
        }
    }
}
