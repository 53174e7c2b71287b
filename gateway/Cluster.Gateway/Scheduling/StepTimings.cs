namespace Cluster.Gateway.Scheduling;

/// <summary>Where one sequence's steps spent their time, per stage: summed compute, round-trip and device-idle seconds, and the silo each stage last ran on.</summary>
internal sealed class StepTimings
{
    private double[] _compute = [];
    private double[] _roundTrip = [];
    private double[] _idle = [];
    private string?[] _silos = [];

    public int Count { get; private set; }

    public IReadOnlyList<double> ComputeSeconds => _compute;

    public IReadOnlyList<double> RoundTripSeconds => _roundTrip;

    /// <summary>How long each stage's device sat idle before these steps, between them and the step before with the same sequence.</summary>
    public IReadOnlyList<double> IdleSeconds => _idle;

    /// <summary>The silo stage s last answered from (null: not known); after a failover or a move, the new one.</summary>
    public string? SiloOf(int stage) => stage < _silos.Length ? _silos[stage] : null;

    public void Add(PipelineOutcome outcome)
    {
        if (_compute.Length < outcome.StageComputeSeconds.Length)
        {
            Array.Resize(ref _compute, outcome.StageComputeSeconds.Length);
            Array.Resize(ref _roundTrip, outcome.StageRoundTripSeconds.Length);
            Array.Resize(ref _idle, outcome.StageIdleSeconds.Length);
            Array.Resize(ref _silos, outcome.StageComputeSeconds.Length);
        }
        for (var s = 0; s < outcome.StageComputeSeconds.Length; s++)
        {
            _compute[s] += outcome.StageComputeSeconds[s];
            _roundTrip[s] += outcome.StageRoundTripSeconds[s];
            _idle[s] += outcome.StageIdleSeconds[s];
            if (s < outcome.StageSilos.Length && !string.IsNullOrEmpty(outcome.StageSilos[s]))
            {
                _silos[s] = outcome.StageSilos[s];
            }
        }
        Count++;
    }
}
