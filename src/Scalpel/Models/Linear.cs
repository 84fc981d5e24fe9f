using Scalpel.Backends;

namespace Scalpel.Models;

/// <summary>LoRA weights of one linear: A [rank, in], B [out, rank]; y += scaling · B·A·dropout(x). With DoRA, also a magnitude.</summary>
internal sealed class LoraWeights(Parameter a, Parameter b, float scaling, float dropout, DoraMagnitude? dora = null)
{
    public Parameter A { get; } = a;
    public Parameter B { get; } = b;
    public float Scaling { get; } = scaling;
    public float Dropout { get; } = dropout;
    /// <summary>DoRA's magnitude and its per-output scale; null for plain LoRA.</summary>
    public DoraMagnitude? Dora { get; } = dora;
    public int Rank => A.Value.Rows;

    public IEnumerable<Parameter> Parameters()
    {
        yield return A;
        yield return B;
        if (Dora is not null) yield return Dora.Magnitude;
    }

    /// <summary>Frees a detached adapter's weights (a model's own adapter parameters are freed with the model's parameters).</summary>
    public void Dispose()
    {
        foreach (var p in Parameters()) p.Dispose();
        Dora?.Dispose();
    }
}

/// <summary>
/// DoRA (weight-decomposed LoRA, as peft's <c>use_dora</c>): the adapted linear is y = g ⊙ (x·Wᵀ + s·x·Aᵀ·Bᵀ) + bias with
/// g = m / ‖W + s·B·A‖ row-wise. The norm is treated as a constant in backward (DoRA paper §4.3, as peft detaches it), so
/// it is computed once per forward pass into <see cref="Scale"/> and <see cref="InverseNorm"/>, never differentiated.
/// </summary>
internal sealed class DoraMagnitude(Parameter magnitude, float[] weightRowNormsSquared, Tensors.Tensor scale, Tensors.Tensor inverseNorm,
    Tensors.Tensor identity) : IDisposable
{
    /// <summary>m [out], saved by peft as <c>&lt;module&gt;.lora_magnitude_vector</c>.</summary>
    public Parameter Magnitude { get; } = magnitude;
    /// <summary>‖W_i‖² of the frozen base weight, computed once (the base never changes under an adapter).</summary>
    public float[] WeightRowNormsSquared { get; } = weightRowNormsSquared;
    /// <summary>g = m / ‖W + s·B·A‖ [out], refreshed by <see cref="Refresh"/>.</summary>
    public Tensors.Tensor Scale { get; } = scale;
    /// <summary>1 / ‖W + s·B·A‖ [out]: the magnitude's gradient is Σ_t dy ⊙ (x·Wᵀ + s·x·Aᵀ·Bᵀ) / ‖W + s·B·A‖.</summary>
    public Tensors.Tensor InverseNorm { get; } = inverseNorm;
    /// <summary>I [rank, rank], for transposing B with a GEMM.</summary>
    private Tensors.Tensor Identity { get; } = identity;
    /// <summary>Versions of A, B and m the scale was computed from (see <see cref="Parameter.Version"/>).</summary>
    private (int A, int B, int M)? _computedFrom;

    /// <summary>
    /// A DoRA state for a linear with its magnitude initialised, as peft does, to ‖W_i + s·(B·A)_i‖ (= ‖W_i‖ while B = 0),
    /// or left for the caller to upload (a loaded adapter).
    /// </summary>
    public static DoraMagnitude Create(IBackend be, Workspace ws, Linear linear, Parameter a, Parameter b, float scaling, string magnitudeName,
        bool trainable)
    {
        var normsSquared = be.Allocate(Tensors.DType.F32, linear.Out);
        be.RowSquaredNorms(linear.Weight.Value, normsSquared);
        var host = new float[linear.Out];
        be.Download(normsSquared, host);
        normsSquared.Dispose();
        var magnitude = new Parameter(magnitudeName, be.Allocate(Tensors.DType.F32, linear.Out));
        if (trainable) magnitude.Grad = be.Allocate(Tensors.DType.F32, linear.Out);
        int rank = a.Value.Rows;
        var identity = be.Allocate(Tensors.DType.F32, rank, rank);
        var eye = new float[rank * rank];
        for (int i = 0; i < rank; i++) eye[i * rank + i] = 1f;
        be.Upload(identity, eye);
        var dora = new DoraMagnitude(magnitude, host, be.Allocate(Tensors.DType.F32, linear.Out), be.Allocate(Tensors.DType.F32, linear.Out), identity);
        var norms = dora.CurrentNorms(be, ws, linear, a, b, scaling);
        be.Upload(magnitude.Value, norms);
        return dora;
    }

    /// <summary>Recomputes g and 1/‖W + s·B·A‖ from the current A, B and m; with <paramref name="onlyIfChanged"/>, only when one of them was written since.</summary>
    public void Refresh(IBackend be, Workspace ws, Linear linear, LoraWeights lora, bool onlyIfChanged)
    {
        var versions = (lora.A.Version, lora.B.Version, Magnitude.Version);
        if (onlyIfChanged && _computedFrom == versions) return;
        var norms = CurrentNorms(be, ws, linear, lora.A, lora.B, lora.Scaling);
        var m = new float[norms.Length];
        be.Download(Magnitude.Value, m);
        var inverse = new float[norms.Length];
        for (int i = 0; i < norms.Length; i++)
        {
            inverse[i] = 1f / norms[i];
            m[i] *= inverse[i];
        }
        be.Upload(Scale, m);
        be.Upload(InverseNorm, inverse);
        _computedFrom = versions;
    }

    /// <summary>
    /// ‖W_i + s·(B·A)_i‖ without forming W + s·B·A (the base may be NF4 / Q8_0 / BF16):
    /// ‖W_i‖² + 2s·Σ_r B_ir (W·Aᵀ)_ir + s²·B_i (A·Aᵀ) B_iᵀ, where W·Aᵀ is one GEMM over the base as stored.
    /// </summary>
    private float[] CurrentNorms(IBackend be, Workspace ws, Linear linear, Parameter a, Parameter b, float s)
    {
        int r = a.Value.Rows, o = linear.Out;
        var e = ws.Rows("dora.e", r, o);
        be.MatMul(e, a.Value, false, linear.Weight.Value, true, alpha: 2f);               // 2·(W·Aᵀ)ᵀ = 2·A·Wᵀ   [r, out]
        var gram = ws.Rows("dora.gram", r, r);
        be.MatMul(gram, a.Value, false, a.Value, true);                                   // A·Aᵀ              [r, r]
        be.MatMul(e, gram, false, b.Value, true, alpha: s, beta: 1f);                      // + s·(A·Aᵀ)·Bᵀ
        var bt = ws.Rows("dora.bt", r, o);
        be.MatMul(bt, Identity, false, b.Value, true);                                     // Bᵀ                [r, out]
        var dots = ws.Rows("dora.dots", 1, o);
        be.ColumnDots(bt, e, dots);
        var cross = new float[o];
        be.Download(dots, cross);
        var norms = new float[o];
        for (int i = 0; i < o; i++) norms[i] = MathF.Sqrt(MathF.Max(WeightRowNormsSquared[i] + s * cross[i], 0f));
        return norms;
    }

    /// <summary>Frees the derived tensors; <see cref="Magnitude"/> is a parameter, freed by its owner.</summary>
    public void Dispose()
    {
        Scale.Dispose();
        InverseNorm.Dispose();
        Identity.Dispose();
    }
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
    /// <param name="dropoutSeed">seed of the LoRA dropout mask; null in evaluation and generation (no dropout)</param>
    public void Forward(IBackend be, Workspace ws, Tensors.Tensor x, Tensors.Tensor y, Tensors.Tensor? loraHidden, ulong? dropoutSeed)
    {
        be.MatMul(y, x, false, Weight.Value, true);
        if (Lora is null)
        {
            if (Bias is not null) be.AddBias(y, Bias.Value);
            return;
        }
        var input = dropoutSeed is { } seed ? DroppedInput(be, ws, x, seed) : x;
        be.MatMul(loraHidden!, input, false, Lora.A.Value, true);
        if (Lora.Dora is { } dora) DoraOutput(be, ws, input, ReferenceEquals(input, x), y, loraHidden!, dora);
        else be.MatMul(y, loraHidden!, false, Lora.B.Value, true, alpha: Lora.Scaling, beta: 1f);
        if (Bias is not null) be.AddBias(y, Bias.Value);
    }

    /// <summary>
    /// y (holding x·Wᵀ) becomes DoRA's output without bias, as peft computes it: x·Wᵀ + (g − 1) ⊙ x̃·Wᵀ + g ⊙ s·x̃·Aᵀ·Bᵀ,
    /// where x̃ is the dropped input (x itself without dropout, when this is g ⊙ (x·Wᵀ + s·x·Aᵀ·Bᵀ)).
    /// </summary>
    internal void DoraOutput(IBackend be, Workspace ws, Tensors.Tensor input, bool inputIsX, Tensors.Tensor y, Tensors.Tensor hidden,
        DoraMagnitude dora)
    {
        var lora = Lora!;
        if (inputIsX)
        {
            be.MatMul(y, hidden, false, lora.B.Value, true, alpha: lora.Scaling, beta: 1f);
            be.ScaleColumns(y, y, dora.Scale);
            return;
        }
        var z = ws.Rows("dora.z", input.Rows, Out);
        be.MatMul(z, input, false, Weight.Value, true);                                    // x̃·Wᵀ
        be.AddScaled(y, z, -1f);
        be.MatMul(z, hidden, false, lora.B.Value, true, alpha: lora.Scaling, beta: 1f);    // x̃·Wᵀ + s·x̃·Aᵀ·Bᵀ
        be.ScaleColumns(z, z, dora.Scale);
        be.AddScaled(y, z);
    }

    /// <summary>
    /// Gradients of y = Linear(x): dx = dy·W (+ LoRA path), overwriting dx or adding to it; trainable parameter
    /// gradients accumulate. dx may be null when nothing upstream needs it.
    /// </summary>
    public void Backward(IBackend be, Workspace ws, Tensors.Tensor dy, Tensors.Tensor x, Tensors.Tensor? dx, bool accumulate,
        Tensors.Tensor? loraHidden, ulong dropoutSeed)
    {
        if (Lora?.Dora is { } dora)
        {
            DoraBackward(be, ws, dy, x, dx, accumulate, loraHidden!, dropoutSeed, dora);
            return;
        }
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

    /// <summary>
    /// Backward of y = x·Wᵀ + (g − 1) ⊙ x̃·Wᵀ + g ⊙ s·u·Bᵀ + b with u = x̃·Aᵀ and g = m / ‖W + s·B·A‖ held constant:
    /// dm = Σ_t dy ⊙ (x̃·Wᵀ + s·u·Bᵀ) / ‖W + s·B·A‖; B and A see dy scaled by g; x sees dy·W plus the dropped path.
    /// </summary>
    private void DoraBackward(IBackend be, Workspace ws, Tensors.Tensor dy, Tensors.Tensor x, Tensors.Tensor? dx, bool accumulate,
        Tensors.Tensor hidden, ulong dropoutSeed, DoraMagnitude dora)
    {
        var lora = Lora!;
        int tokens = x.Rows;
        if (Bias?.Grad is not null) be.BiasBackward(dy, Bias.Grad);
        var input = DroppedInput(be, ws, x, dropoutSeed);

        // The magnitude: recompute the unscaled output z̃ = x̃·Wᵀ + s·u·Bᵀ (cheaper in memory than saving it).
        var z = ws.Rows("dora.z", tokens, Out);
        be.MatMul(z, input, false, Weight.Value, true);
        be.MatMul(z, hidden, false, lora.B.Value, true, alpha: lora.Scaling, beta: 1f);
        var dm = ws.Rows("dora.dm", 1, Out);
        be.ColumnDots(dy, z, dm);
        be.ScaleColumns(dm, dm, dora.InverseNorm);
        be.AddScaled(dora.Magnitude.Grad!, dm);

        var dyScaled = ws.Rows("dora.dyg", tokens, Out);
        be.ScaleColumns(dyScaled, dy, dora.Scale);                                              // g ⊙ dy
        be.MatMul(lora.B.Grad!, dyScaled, true, hidden, false, alpha: lora.Scaling, beta: 1f);  // dB += s·(g⊙dy)ᵀ·u
        var du = ws.Rows("lora.du", tokens, lora.Rank);
        be.MatMul(du, dyScaled, false, lora.B.Value, false, alpha: lora.Scaling);              // du = s·(g⊙dy)·B
        be.MatMul(lora.A.Grad!, du, true, input, false, beta: 1f);                              // dA += duᵀ·x̃
        if (dx is null) return;
        if (lora.Dropout <= 0f)
        {
            be.MatMul(dx, dyScaled, false, Weight.Value, false, beta: accumulate ? 1f : 0f);   // dx = (g⊙dy)·W
            be.MatMul(dx, du, false, lora.A.Value, false, beta: 1f);                            //    + du·A
            return;
        }
        be.MatMul(dx, dy, false, Weight.Value, false, beta: accumulate ? 1f : 0f);             // the undropped base: dy·W
        be.AddScaled(dyScaled, dy, -1f);                                                        // (g − 1) ⊙ dy
        var dInput = ws.Rows("lora.dx", tokens, In);
        be.MatMul(dInput, dyScaled, false, Weight.Value, false);
        be.MatMul(dInput, du, false, lora.A.Value, false, beta: 1f);
        be.Dropout(dInput, dInput, lora.Dropout, dropoutSeed);                                  // same mask as forward
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
