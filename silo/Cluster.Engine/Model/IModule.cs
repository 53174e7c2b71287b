using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>A position-wise piece of a block (norm, feed-forward): (T, in) → (T, out), owning its weights.</summary>
public interface IModule : IDisposable
{
    Tensor Forward(Tensor x);
}
