namespace Cluster.Engine.Training;

/// <summary>What a training run does; with the corpus and the seed, it fixes the result.</summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 16;

    /// <summary>Tokens per training sequence (each window reads one more, for the last target).</summary>
    public int SequenceLength { get; init; } = 256;

    public double LearningRate { get; init; } = 3e-3;

    /// <summary>The learning rate the cosine decay ends at.</summary>
    public double MinLearningRate { get; init; } = 3e-4;

    public int WarmupSteps { get; init; } = 50;
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>The global gradient norm is clipped to this before each update.</summary>
    public double GradientClip { get; init; } = 1.0;

    /// <summary>Seeds the initial weights and the order of training windows.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Steps between held-out evaluations (and once at the end); 0 evaluates only at the end.</summary>
    public int EvaluationInterval { get; init; } = 100;

    /// <summary>Held-out windows of <see cref="SequenceLength"/> tokens each evaluation reads (the first ones, non-overlapping).</summary>
    public int EvaluationWindows { get; init; } = 16;

    public void Validate()
    {
        if (Steps < 1 || BatchSize < 1 || SequenceLength < 2 || WarmupSteps < 0 || EvaluationInterval < 0 || EvaluationWindows < 1)
        {
            throw new ArgumentException("Steps, batch size, evaluation windows must be positive, the sequence length at least 2, warm-up and evaluation interval not negative.");
        }
        if (!(LearningRate > 0) || MinLearningRate < 0 || MinLearningRate > LearningRate || WeightDecay < 0 || !(GradientClip > 0))
        {
            throw new ArgumentException("The learning rate must be positive and at least the minimum one; weight decay not negative; the gradient clip positive.");
        }
    }

    /// <summary>Linear warm-up to <see cref="LearningRate"/>, then cosine decay to <see cref="MinLearningRate"/> at the last step.</summary>
    public double LearningRateAt(int step)
    {
        if (step < WarmupSteps)
        {
            return LearningRate * (step + 1) / WarmupSteps;
        }
        var progress = Steps - WarmupSteps <= 1 ? 1.0 : (double)(step - WarmupSteps) / (Steps - WarmupSteps - 1);
        return MinLearningRate + 0.5 * (LearningRate - MinLearningRate) * (1 + Math.Cos(Math.PI * progress));
    }
}
