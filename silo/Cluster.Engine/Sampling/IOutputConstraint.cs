namespace Cluster.Engine.Sampling;

/// <summary>
/// What a request's output must be (JSON mode, a JSON schema): applied to every step's penalized logits, last, before
/// log-probabilities and the draw. One instance per request; it follows the request's output from the history the
/// sampler is given, so a sampler rebuilt after a failover picks up where the lost one was.
/// </summary>
public interface IOutputConstraint
{
    /// <summary>
    /// Catches up with the request's output (the last <paramref name="generated"/> of <paramref name="history"/>), then
    /// sets every logit the constraint forbids to -inf.
    /// </summary>
    void Apply(Span<float> logits, IReadOnlyList<int> history, int generated);
}
