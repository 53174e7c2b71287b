using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>A pre-norm decoder layer: h = x + attention(norm₁(x)); out = h + feedForward(norm₂(h)).</summary>
public sealed class DecoderBlock(IModule attentionNorm, Attention attention, IModule feedForwardNorm, IModule feedForward) : IDisposable
{
    /// <remarks>
    /// Inference only (the caller holds inference mode): each residual is added in place into the sublayer's fresh
    /// output, which saves a tensor per add; x + y and y + x are the same fp32 sum.
    /// </remarks>
    internal Tensor Forward(Tensor x, StepLayout step, int cacheLayer)
    {
        var h = attention.Forward(attentionNorm.Forward(x), step, cacheLayer).add_(x); // (T, H)
        return feedForward.Forward(feedForwardNorm.Forward(h)).add_(h);               // (T, H)
    }

    /// <summary>This layer's attention weights for one whole sequence (T, H) from position 0: (nHeads, T, T) float32.</summary>
    internal Tensor AttentionWeights(Tensor x, Tensor positions) => attention.Weights(attentionNorm.Forward(x), positions);

    /// <summary>The same layer over whole sequences (B, T, H) with causal attention and no cache: the training path.</summary>
    internal Tensor ForwardCausal(Tensor x, Tensor positions)
    {
        var h = x.add(attention.ForwardCausal(attentionNorm.Forward(x), positions)); // (B, T, H)
        return h.add(feedForward.Forward(feedForwardNorm.Forward(h)));             // (B, T, H)
    }

    public void Dispose()
    {
        attentionNorm.Dispose();
        attention.Dispose();
        feedForwardNorm.Dispose();
        feedForward.Dispose();
    }
}
