namespace Scalpel.Models;

/// <summary>The gate activation of a gated MLP: out = act(gate) * up.</summary>
public enum Activation
{
    /// <summary>SiLU (SwiGLU): Llama, Mistral, Qwen, SmolLM, Phi-3.</summary>
    Silu,
    /// <summary>GELU with the tanh approximation (GeGLU): Gemma's gelu_pytorch_tanh.</summary>
    GeluTanh,
}
