using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cluster.Engine.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter) with decoupled weight decay applied to matrices only, written out in tensor ops
/// so that the learning rate is set per step and the update is plain to read.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly IReadOnlyList<(string Name, Parameter Value, bool Decays)> _parameters;
    private readonly Tensor[] _firstMoments;
    private readonly Tensor[] _secondMoments;
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly double _epsilon;
    private int _step;

    public AdamW(IReadOnlyList<(string Name, Parameter Value, bool Decays)> parameters, double beta1 = 0.9, double beta2 = 0.95, double epsilon = 1e-8)
    {
        _parameters = parameters;
        _firstMoments = parameters.Select(p => torch.zeros_like(p.Value).requires_grad_(false)).ToArray();
        _secondMoments = parameters.Select(p => torch.zeros_like(p.Value).requires_grad_(false)).ToArray();
        (_beta1, _beta2, _epsilon) = (beta1, beta2, epsilon);
    }

    /// <summary>Scales all gradients so that their global L2 norm is at most <paramref name="maxNorm"/>; returns the norm before.</summary>
    public double ClipGradients(double maxNorm)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var squares = _parameters.Select(p => p.Value.grad!.pow(2).sum()).ToArray();
        var norm = torch.stack(squares).sum().sqrt().item<float>();
        if (norm > maxNorm)
        {
            foreach (var p in _parameters)
            {
                p.Value.grad!.mul_(maxNorm / (norm + 1e-6));
            }
        }
        return norm;
    }

    public void Step(double learningRate, double weightDecay)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        _step++;
        var firstCorrection = 1 - Math.Pow(_beta1, _step);
        var secondCorrection = 1 - Math.Pow(_beta2, _step);
        for (var i = 0; i < _parameters.Count; i++)
        {
            var (_, p, decays) = _parameters[i];
            var g = p.grad!;
            _firstMoments[i].mul_(_beta1).add_(g, alpha: 1 - _beta1);          // m ← β₁m + (1−β₁)g
            _secondMoments[i].mul_(_beta2).addcmul_(g, g, value: 1 - _beta2);  // v ← β₂v + (1−β₂)g²
            var denominator = _secondMoments[i].div(secondCorrection).sqrt_().add_(_epsilon);
            if (decays)
            {
                p.mul_(1 - learningRate * weightDecay);                         // decoupled decay
            }
            p.addcdiv_(_firstMoments[i], denominator, value: -learningRate / firstCorrection);
        }
    }

    public void ZeroGradients()
    {
        using var scope = torch.NewDisposeScope();
        foreach (var p in _parameters)
        {
            p.Value.grad?.zero_();
        }
    }

    public void Dispose()
    {
        foreach (var t in _firstMoments.Concat(_secondMoments))
        {
            t.Dispose();
        }
    }
}
