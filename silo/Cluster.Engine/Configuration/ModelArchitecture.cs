namespace Cluster.Engine.Configuration;

/// <summary>The decoder-only families the engine implements.</summary>
public enum ModelArchitecture
{
    /// <summary>Llama 2/3, TinyLlama, SmolLM2, Qwen2, Mistral: RMSNorm, rotary positions, grouped-query attention, SwiGLU.</summary>
    Llama,

    /// <summary>GPT-2: learned absolute positions, LayerNorm, GELU (tanh), Conv1D weight layout.</summary>
    Gpt2,
}
