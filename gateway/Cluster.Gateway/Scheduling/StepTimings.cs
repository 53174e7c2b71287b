namespace Cluster.Gateway.Scheduling;

/// <summary>Where one sequence's steps spent their time, per stage: summed compute and round-trip seconds.</summary>
internal sealed class StepTimings
{
    private double[] _compute = [];
    private double[] _roundTrip = [];

    public int Count { get; private set; }

    public IReadOnlyList<double> ComputeSeconds => _compute;

    public IReadOnlyList<double> RoundTripSeconds => _roundTrip;

    public void Add(PipelineOutcome outcome)
    {
        if (_compute.Length < outcome.StageComputeSeconds.Length)
        {
            Array.Resize(ref _compute, outcome.StageComputeSeconds.Length);
            Array.Resize(ref _roundTrip, outcome.StageRoundTripSeconds.Length);
        }
        for (var s = 0; s < outcome.StageComputeSeconds.Length; s++)
        {
            _compute[s] += outcome.StageComputeSeconds[s];
            _roundTrip[s] += outcome.StageRoundTripSeconds[s];
        }
        Count++;
    }
}
