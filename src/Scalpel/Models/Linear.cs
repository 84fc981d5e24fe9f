using Scalpel.Backends;

namespace Scalpel.Models;

/// <summary>LoRA weights of one linear: A [rank, in], B [out, rank]; y += scaling · B·A·dropout(x).</summary>
internal sealed class LoraWeights(Parameter a, Parameter b, float scaling, float dropout)
{
    public Parameter A { get; } = a;
    public Parameter B { get; } = b;
    public float Scaling { get; } = scaling;
    public float Dropout { get; } = dropout;
    public int Rank => A.Value.Rows;
}

/// <summary>
/// y = x·Wᵀ (+ b) (+ LoRA), with W [out, in] as Hugging Face stores it. The base weight may be BF16 (frozen) or F32.
/// </summary>
internal sealed class Linear(string name, Parameter weight, Parameter? bias)
{
    /// <summary>Module name, e.g. <c>model.layers.3.mlp.down_proj</c>.</summary>
    public string Name { get; } = name;
    public Parameter Weight { get; } = weight;
    public Parameter? Bias { get; } = bias;
    public LoraWeights? Lora { get; set; }
    public int In => Weight.Value.Columns;
    public int Out => Weight.Value.Rows;

    /// <param name="x">[T, in]</param>
    /// <param name="y">[T, out], overwritten</param>
    /// <param name="loraHidden">[T, rank]: A·dropout(x), saved for backward (null without LoRA)</param>
    /// <param name="dropoutSeed">the dropout mask's seed when training; null = no dropout (evaluation)</param>
    public void Forward(IBackend be, Workspace ws, Tensors.Tensor x, Tensors.Tensor y, Tensors.Tensor? loraHidden, ulong? dropoutSeed)
    {
        be.MatMul(y, x, false, Weight.Value, true);
        if (Bias is not null) be.AddBias(y, Bias.Value);
        if (Lora is null) return;
        var input = dropoutSeed is ulong seed ? DroppedInput(be, ws, x, seed) : x;
        be.MatMul(loraHidden!, input, false, Lora.A.Value, true);
        be.MatMul(y, loraHidden!, false, Lora.B.Value, true, alpha: Lora.Scaling, beta: 1f);
    }

    /// <summary>
    /// Gradients of y = Linear(x): dx = dy·W (+ LoRA path), overwriting dx or adding to it; trainable parameter
    /// gradients accumulate. dx may be null when nothing upstream needs it.
    /// </summary>
    public void Backward(IBackend be, Workspace ws, Tensors.Tensor dy, Tensors.Tensor x, Tensors.Tensor? dx, bool accumulate,
        Tensors.Tensor? loraHidden, ulong dropoutSeed)
    {
        if (dx is not null) be.MatMul(dx, dy, false, Weight.Value, false, beta: accumulate ? 1f : 0f);
        if (Weight.Grad is not null) be.MatMul(Weight.Grad, dy, true, x, false, beta: 1f);      // dW += dyᵀ·x   [out, in]
        if (Bias?.Grad is not null) be.BiasBackward(dy, Bias.Grad);
        if (Lora is null) return;

        int tokens = x.Rows;
        var input = DroppedInput(be, ws, x, dropoutSeed);
        be.MatMul(Lora.B.Grad!, dy, true, loraHidden!, false, alpha: Lora.Scaling, beta: 1f);   // dB += s·dyᵀ·u   [out, r]
        var du = ws.Rows("lora.du", tokens, Lora.Rank);
        be.MatMul(du, dy, false, Lora.B.Value, false, alpha: Lora.Scaling);                     // du = s·dy·B     [T, r]
        be.MatMul(Lora.A.Grad!, du, true, input, false, beta: 1f);                               // dA += duᵀ·x̃    [r, in]
        if (dx is null) return;
        if (Lora.Dropout <= 0f)
        {
            be.MatMul(dx, du, false, Lora.A.Value, false, beta: 1f);                             // dx += du·A
            return;
        }
        var dInput = ws.Rows("lora.dx", tokens, In);
        be.MatMul(dInput, du, false, Lora.A.Value, false);
        be.Dropout(dInput, dInput, Lora.Dropout, dropoutSeed);                                   // same mask as forward
        be.AddScaled(dx, dInput);
    }

    private Tensors.Tensor DroppedInput(IBackend be, Workspace ws, Tensors.Tensor x, ulong seed)
    {
        if (Lora!.Dropout <= 0f) return x;
        var dropped = ws.Rows("lora.x", x.Rows, In);
        be.Dropout(dropped, x, Lora.Dropout, seed);
        return dropped;
    }
}
