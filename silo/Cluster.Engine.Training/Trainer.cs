using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Training;

/// <summary>One step's report: the training loss, and the held-out loss on the steps that evaluate.</summary>
public sealed record TrainingProgress(int Step, int Steps, double Loss, double? HeldOutLoss, double LearningRate, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Remaining);

/// <summary>The training loss of every step and the held-out loss before and after.</summary>
public sealed record TrainingResult(IReadOnlyList<double> Losses, double InitialHeldOutLoss, double FinalHeldOutLoss, TimeSpan Elapsed);

/// <summary>
/// Next-token training on a token stream: seeded random windows, AdamW with warm-up and cosine decay, gradient
/// clipping, and held-out evaluation on fixed windows. Synchronous, on the calling thread (dispose scopes and
/// grad mode are per thread).
/// </summary>
public static class Trainer
{
    public static TrainingResult Run(TrainableLlama model, IReadOnlyList<int> trainTokens, IReadOnlyList<int> heldOutTokens, TrainingOptions options, Action<TrainingProgress>? report = null)
    {
        options.Validate();
        var windows = new TrainingWindows(trainTokens, options.SequenceLength, options.Seed);
        using var heldOut = TrainingWindows.Consecutive(heldOutTokens, options.SequenceLength, options.EvaluationWindows); // (N, T+1)
        using var optimizer = new AdamW(model.Parameters);
        var initialHeldOut = Evaluate(model, heldOut, options.BatchSize);
        var losses = new List<double>(options.Steps);
        var clock = Stopwatch.StartNew();
        double finalHeldOut = initialHeldOut;
        for (var step = 0; step < options.Steps; step++)
        {
            var learningRate = options.LearningRateAt(step);
            using (var scope = torch.NewDisposeScope())
            {
                var batch = windows.NextBatch(options.BatchSize); // (B, T+1)
                var loss = model.Loss(batch);                      // ()
                optimizer.ZeroGradients();
                loss.backward();
                optimizer.ClipGradients(options.GradientClip);
                optimizer.Step(learningRate, options.WeightDecay);
                losses.Add(loss.item<float>());
            }
            var last = step == options.Steps - 1;
            double? evaluated = null;
            if (last || (options.EvaluationInterval > 0 && (step + 1) % options.EvaluationInterval == 0))
            {
                evaluated = finalHeldOut = Evaluate(model, heldOut, options.BatchSize);
            }
            if (report is not null)
            {
                var elapsed = clock.Elapsed;
                var done = step + 1;
                var tokensPerSecond = (double)done * options.BatchSize * options.SequenceLength / Math.Max(elapsed.TotalSeconds, 1e-9);
                var remaining = TimeSpan.FromSeconds(elapsed.TotalSeconds / done * (options.Steps - done));
                report(new TrainingProgress(done, options.Steps, losses[^1], evaluated, learningRate, tokensPerSecond, elapsed, remaining));
            }
        }
        return new TrainingResult(losses, initialHeldOut, finalHeldOut, clock.Elapsed);
    }

    /// <summary>Mean next-token loss (nats) over <paramref name="windows"/> (N, T+1), in batches, without gradients.</summary>
    public static double Evaluate(TrainableLlama model, Tensor windows, int batchSize)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var n = windows.shape[0];
        var total = 0.0;
        for (long start = 0; start < n; start += batchSize)
        {
            var count = Math.Min(batchSize, n - start);
            total += model.Loss(windows.narrow(0, start, count)).item<float>() * count; // windows are equally long
        }
        return total / n;
    }
}
