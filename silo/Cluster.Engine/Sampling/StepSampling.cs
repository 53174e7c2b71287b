using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Cluster.Engine.Model;
using Cluster.Kernels;

namespace Cluster.Engine.Sampling;

/// <summary>
/// Samples every row of a step's logits on the kernel team's threads, each thread claiming rows one at a time
/// (<see cref="WorkChunks"/>): a row's cost depends on its sampler (a greedy row without log-probabilities is one pass
/// over the logits, a top-p row over the whole vocabulary sorts it), so equal shares would leave one thread waiting.
/// Each sequence's <see cref="TokenSampler"/> owns its random stream and only its row is read, so the tokens are those
/// of sampling the rows one after another, in any split. On the device thread alone a 32-sequence greedy step's
/// sampling took 4-5 ms on this VM (with log-probabilities) while the team's other threads, awake from the LM head, waited.
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
            var scratch = stackalloc byte[WorkChunks.ScratchBytes(parts)];
            job.Rows = WorkChunks.Create(scratch, samplers.Count, parts);
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
        var cursor = 0;
        while (job.Rows.TryClaim(part, ref cursor, out var row))
        {
            job.RunRows(row, row + 1);
        }
    }

    private sealed class Job(HostLogits logits, IReadOnlyList<TokenSampler> samplers, IReadOnlyList<IReadOnlyList<int>> histories)
    {
        public SampledToken[] Results { get; } = new SampledToken[samplers.Count];

        public Exception?[] Failures { get; } = new Exception?[samplers.Count];

        /// <summary>The rows, handed to the team's threads one at a time; set before the team starts.</summary>
        public WorkChunks Rows;

        /// <summary>Rows [first, end); each row's result and failure are written by the one thread that claimed it.</summary>
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
