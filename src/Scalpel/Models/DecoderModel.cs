using Scalpel.Adapters;
using Scalpel.Backends;
using Scalpel.Backends.Cpu;
using Scalpel.Backends.Cpu.Kernels;
using Scalpel.IO;
using Scalpel.Tensors;

namespace Scalpel.Models;

/// <summary>How base weights are kept in memory.</summary>
public enum WeightPrecision
{
    /// <summary>BF16 when the checkpoint stores BF16, F32 otherwise.</summary>
    Auto,
    F32,
    BF16,
    /// <summary>
    /// The linears of every block in 4-bit NormalFloat with double-quantized scales (QLoRA's base); the embedding,
    /// LM head and norms as <see cref="Auto"/>.
    /// </summary>
    NF4,
    /// <summary>The linears of every block in llama.cpp's Q8_0; the embedding, LM head and norms as <see cref="Auto"/>.</summary>
    Q8_0,
}

/// <summary>
/// A Llama-family decoder (Llama, Mistral, Qwen2/3, SmolLM, Gemma) with an explicit forward that saves what its
/// backward needs and an explicit backward that walks the blocks in reverse — no autograd graph. Architecture
/// differences are flags in <see cref="ModelSpec"/>. All tensor work goes through <see cref="IBackend"/>.
/// </summary>
public sealed partial class DecoderModel : IDisposable
{
    private readonly Workspace _ws;
    private readonly RopeTable _rope;
    private readonly List<Parameter> _parameters = [];
    private ulong _forwardCount;
    /// <summary>Whether the forward in progress trains (LoRA dropout on) or evaluates (dropout off, as PyTorch's eval()).</summary>
    private bool _training;

    private DecoderModel(ModelSpec spec, IBackend backend, Parameter embed, Block[] blocks, Parameter finalNorm, Parameter lmHead)
    {
        Spec = spec;
        Backend = backend;
        Embed = embed;
        Blocks = blocks;
        FinalNorm = finalNorm;
        LmHead = lmHead;
        _ws = new Workspace(backend);
        _rope = RopeTable.Create(spec.HeadDim, spec.MaxPositions, spec.RopeTheta, spec.Rope);
        _parameters.Add(embed);
        foreach (var b in blocks) _parameters.AddRange(b.Parameters());
        _parameters.Add(finalNorm);
        if (!ReferenceEquals(lmHead, embed)) _parameters.Add(lmHead);
    }

    public ModelSpec Spec { get; }
    public IBackend Backend { get; }
    internal Parameter Embed { get; private set; }
    internal Block[] Blocks { get; }
    internal Parameter FinalNorm { get; }
    /// <summary>
    /// The LM head; the same parameter as the embedding when the checkpoint ties them, unless training one of them
    /// (<see cref="LoraConfig.ModulesToSave"/>) untied them.
    /// </summary>
    internal Parameter LmHead { get; private set; }

    /// <summary>Whether the embedding and the LM head are one matrix (tied in the checkpoint and not untied since).</summary>
    public bool TiedEmbeddings => ReferenceEquals(Embed, LmHead);

    /// <summary>Keep only each block's input during forward and recompute the block during backward.</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>Seed of LoRA dropout masks.</summary>
    public ulong DropoutSeed { get; set; } = 0x5CA1_9E1;

    /// <summary>Forward passes so far; each draws fresh dropout masks from (seed, count, layer, linear).</summary>
    internal ulong ForwardCount { get => _forwardCount; set => _forwardCount = value; }

    /// <summary>Every parameter, base and adapter, each once.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    public IEnumerable<Parameter> TrainableParameters => _parameters.Where(p => p.Trainable);

    /// <summary>The LoRA configuration applied, or null.</summary>
    public LoraConfig? Lora { get; private set; }

    /// <summary>The LoRA-adapted linears (module name, A, B), in model order.</summary>
    public IEnumerable<(string Module, Parameter A, Parameter B)> LoraModules =>
        LoraLinears.Select(l => (l.Name, l.Lora!.A, l.Lora.B));

    /// <summary>The linears that carry LoRA (or DoRA) weights, in model order.</summary>
    internal IEnumerable<Linear> LoraLinears => Blocks.SelectMany(b => b.Linears).Where(l => l.Lora is not null);

    /// <summary>The embedding and LM head parameters trained in full next to the adapter (peft's modules_to_save), by module name.</summary>
    internal IEnumerable<(string Module, Parameter Weight)> SavedModules
    {
        get
        {
            foreach (var module in Lora?.ModulesToSave ?? [])
                yield return (module, module == "embed_tokens" ? Embed : LmHead);
        }
    }

    /// <summary>Bytes of scratch and saved activations currently held.</summary>
    public long WorkspaceBytes => _ws.ByteLength;

    // ───────────────────────────── loading ─────────────────────────────

    /// <summary>Loads config.json and the safetensors weights of a Hugging Face checkpoint folder.</summary>
    public static DecoderModel Load(string directory, IBackend? backend = null, WeightPrecision precision = WeightPrecision.Auto)
    {
        var spec = ModelSpec.FromConfigFile(Path.Combine(directory, "config.json"));
        using var reader = CheckpointReader.Open(directory);
        return Load(spec, reader, backend ?? new CpuBackend(), precision);
    }

    public static DecoderModel Load(ModelSpec spec, CheckpointReader reader, IBackend backend, WeightPrecision precision = WeightPrecision.Auto)
    {
        // Quantized formats apply to the blocks' linears only; the embedding and LM head stay as Auto keeps them.
        WeightPrecision dense = precision is WeightPrecision.NF4 or WeightPrecision.Q8_0 ? WeightPrecision.Auto : precision;
        Parameter Matrix(string name, int rows, int cols) => ReadParameter(reader, backend, name, [rows, cols], dense);
        Parameter LinearWeight(string name, int rows, int cols) => ReadParameter(reader, backend, name, [rows, cols], precision);
        Parameter Vector(string name, int length) => ReadParameter(reader, backend, name, [length], WeightPrecision.F32);
        Parameter? OptionalVector(bool present, string name, int length) => present ? Vector(name, length) : null;

        int d = spec.HiddenSize, qDim = spec.NumHeads * spec.HeadDim, kvDim = spec.NumKvHeads * spec.HeadDim, inter = spec.IntermediateSize;
        var embed = Matrix("model.embed_tokens.weight", spec.VocabSize, d);
        var blocks = new Block[spec.NumLayers];
        for (int l = 0; l < spec.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            Linear Lin(string module, int outDim, int inDim, bool bias) =>
                new(p + module, LinearWeight(p + module + ".weight", outDim, inDim), OptionalVector(bias, p + module + ".bias", outDim));
            blocks[l] = new Block
            {
                InputNorm = Vector(p + "input_layernorm.weight", d),
                Q = Lin("self_attn.q_proj", qDim, d, spec.AttentionBias),
                K = Lin("self_attn.k_proj", kvDim, d, spec.AttentionBias),
                V = Lin("self_attn.v_proj", kvDim, d, spec.AttentionBias),
                O = Lin("self_attn.o_proj", d, qDim, spec.AttentionOutputBias),
                QNorm = OptionalVector(spec.QkNorm, p + "self_attn.q_norm.weight", spec.HeadDim),
                KNorm = OptionalVector(spec.QkNorm, p + "self_attn.k_norm.weight", spec.HeadDim),
                PostNorm = Vector(p + "post_attention_layernorm.weight", d),
                Gate = Lin("mlp.gate_proj", inter, d, spec.MlpBias),
                Up = Lin("mlp.up_proj", inter, d, spec.MlpBias),
                Down = Lin("mlp.down_proj", d, inter, spec.MlpBias),
            };
        }
        var finalNorm = Vector("model.norm.weight", d);
        var head = spec.TieWordEmbeddings ? embed : Matrix("lm_head.weight", spec.VocabSize, d);
        return new DecoderModel(spec, backend, embed, blocks, finalNorm, head);
    }

    /// <summary>Dense tensors are read, widened and copied this many elements (whole rows) at a time.</summary>
    internal const long LoadBandElements = 4 << 20;

    private static Parameter ReadParameter(CheckpointReader reader, IBackend backend, string name, int[] shape, WeightPrecision precision)
    {
        var info = reader.Info(name);
        if (!info.Shape.SequenceEqual(shape))
            throw new SafeTensorsFormatException(
                $"{reader.Directory}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}], config.json implies [{string.Join(", ", shape)}]");
        if (precision is WeightPrecision.NF4 or WeightPrecision.Q8_0)
        {
            // Quantized on load, one tensor at a time: the only f32 copy is this tensor's, dropped right after.
            var quantized = backend.Allocate(precision == WeightPrecision.NF4 ? DType.NF4 : DType.Q8_0, shape);
            var values = new float[info.ElementCount];
            reader.ReadAsF32(name, values);
            backend.Upload(quantized, values);
            return new Parameter(name, quantized);
        }
        bool bf16 = precision == WeightPrecision.BF16 || (precision == WeightPrecision.Auto && info.DType == DType.BF16);
        var tensor = backend.Allocate(bf16 ? DType.BF16 : DType.F32, shape);
        // Read a band of rows at a time, so the only host copy is one band (an embedding is hundreds of MB).
        int rows = shape[0], columns = shape.Length > 1 ? shape[1] : 1;
        int band = (int)Math.Clamp(LoadBandElements / Math.Max(1, columns), 1, rows);
        var f32 = bf16 ? null : new float[(long)band * columns];
        var bits = bf16 ? new ushort[(long)band * columns] : null;
        for (int r0 = 0; r0 < rows; r0 += band)
        {
            int n = Math.Min(band, rows - r0);
            var target = shape.Length > 1 ? backend.RowView(tensor, r0, n) : tensor;
            if (bf16)
            {
                reader.ReadAsBF16(name, (long)r0 * columns, bits.AsSpan(0, n * columns));
                backend.Upload(target, bits.AsSpan(0, n * columns));
            }
            else
            {
                reader.ReadAsF32(name, (long)r0 * columns, f32.AsSpan(0, n * columns));
                backend.Upload(target, f32.AsSpan(0, n * columns));
            }
        }
        return new Parameter(name, tensor);
    }

    // ──────────────────────── what trains ────────────────────────

    /// <summary>Full fine-tuning: every weight becomes F32 and trainable.</summary>
    public void EnableFullFineTuning()
    {
        foreach (var p in _parameters) MakeTrainable(p);
    }

    /// <summary>
    /// Adds LoRA adapters to the configured linears of every block; the base stays frozen. A is Kaiming-uniform
    /// (PEFT's kaiming_uniform_(a=√5): U(−1/√in, 1/√in)) and B is zero, so the model's output is unchanged. With DoRA
    /// each adapted linear also gets a magnitude m initialised to its weight's row norms; with modules_to_save the
    /// embedding and/or LM head become trainable F32 copies.
    /// </summary>
    public void ApplyLora(LoraConfig config, int seed = 0)
    {
        var targets = config.ResolveTargets();
        if (Blocks.Any(b => b.Linears.Any(l => l.Lora is not null))) throw new InvalidOperationException("the model already has LoRA adapters");
        var rng = new Random(seed);
        foreach (var block in Blocks)
        {
            foreach (var linear in block.Linears)
            {
                string module = linear.Name[(linear.Name.LastIndexOf('.') + 1)..];
                if (!targets.Contains(module)) continue;
                var a = new Parameter(linear.Name + ".lora_A.weight", Backend.Allocate(DType.F32, config.Rank, linear.In));
                var b = new Parameter(linear.Name + ".lora_B.weight", Backend.Allocate(DType.F32, linear.Out, config.Rank));
                float bound = 1f / MathF.Sqrt(linear.In);
                var init = new float[a.Value.Length];
                for (int i = 0; i < init.Length; i++) init[i] = (float)(rng.NextDouble() * 2 - 1) * bound;
                Backend.Upload(a.Value, init);
                a.Grad = Backend.Allocate(DType.F32, a.Value.Shape);
                b.Grad = Backend.Allocate(DType.F32, b.Value.Shape);
                var dora = config.UseDora
                    ? DoraMagnitude.Create(Backend, _ws, linear, a, b, config.Scaling, linear.Name + ".lora_magnitude_vector", trainable: true)
                    : null;
                var lora = new LoraWeights(a, b, config.Scaling, config.Dropout, dora);
                linear.Lora = lora;
                _parameters.AddRange(lora.Parameters());
            }
        }
        TrainModulesToSave(config.ResolveModulesToSave());
        Lora = config;
    }

    /// <summary>
    /// Makes the named modules (embed_tokens, lm_head) trainable in F32. peft wraps a copy of each named module, so when
    /// the checkpoint ties the two, training one of them unties them: the other keeps the original, frozen, weights.
    /// </summary>
    private void TrainModulesToSave(IReadOnlySet<string> modules)
    {
        bool embed = modules.Contains("embed_tokens"), head = modules.Contains("lm_head");
        if (!embed && !head) return;
        if (TiedEmbeddings)
        {
            var original = Embed;
            _parameters.Remove(original);
            Embed = embed ? TrainableCopy(original, original.Name) : original;
            LmHead = head ? TrainableCopy(original, "lm_head.weight") : new Parameter("lm_head.weight", original.Value);
            if (embed && head) original.Dispose();
            _parameters.Insert(0, Embed);
            _parameters.Add(LmHead);
            return;
        }
        if (embed) MakeTrainable(Embed);
        if (head) MakeTrainable(LmHead);
    }

    private Parameter TrainableCopy(Parameter source, string name) =>
        new(name, F32Copy(source.Value)) { Grad = Backend.Allocate(DType.F32, source.Value.Shape) };

    /// <summary>Widens a parameter to F32 (if it is not) and gives it a gradient.</summary>
    private void MakeTrainable(Parameter p)
    {
        if (p.Value.DType != DType.F32)
        {
            var widened = F32Copy(p.Value);
            p.Value.Dispose();
            p.Value = widened;
        }
        p.Grad ??= Backend.Allocate(DType.F32, p.Value.Shape);
    }

    /// <summary>An F32 copy of a dense tensor, a band of rows at a time through the host (never a whole-tensor host array).</summary>
    private Tensor F32Copy(Tensor source)
    {
        var copy = Backend.Allocate(DType.F32, source.Shape);
        if (source.Shape.Length < 2)
        {
            var values = new float[source.Length];
            Backend.Download(source, values);
            Backend.Upload(copy, values);
            return copy;
        }
        int rows = source.Rows, columns = source.Columns, band = (int)Math.Clamp(LoadBandElements / columns, 1, rows);
        var buffer = new float[(long)band * columns];
        for (int r0 = 0; r0 < rows; r0 += band)
        {
            int n = Math.Min(band, rows - r0);
            Backend.Download(Backend.RowView(source, r0, n), buffer.AsSpan(0, n * columns));
            Backend.Upload(Backend.RowView(copy, r0, n), buffer.AsSpan(0, n * columns));
        }
        return copy;
    }

    /// <summary>
    /// Recomputes every DoRA linear's g = m / ‖W + s·B·A‖ from the current weights (the norm is a constant of the
    /// forward pass, as peft detaches it); with <paramref name="onlyIfChanged"/>, only where A, B or m were written since.
    /// </summary>
    internal void RefreshDora(bool onlyIfChanged)
    {
        foreach (var linear in LoraLinears)
            linear.Lora!.Dora?.Refresh(Backend, _ws, linear, linear.Lora, onlyIfChanged);
    }

    /// <summary>DoRA state for a detached adapter's linear (whose magnitude the caller uploads next).</summary>
    internal DoraMagnitude CreateDora(Linear linear, Parameter a, Parameter b, float scaling, string magnitudeName) =>
        DoraMagnitude.Create(Backend, _ws, linear, a, b, scaling, magnitudeName, trainable: false);

    internal void RefreshDora(Linear linear, LoraWeights lora) => lora.Dora!.Refresh(Backend, _ws, linear, lora, onlyIfChanged: false);

    public void ZeroGradients()
    {
        foreach (var p in TrainableParameters) Backend.Zero(p.Grad!);
    }

    // ───────────────────────────── forward ─────────────────────────────

    /// <summary>Saved activations of one block for one batch (views into the workspace).</summary>
    private sealed class BlockActivations
    {
        public required Tensor H1, Rstd1, Q, K, V, Attn, Lse, XMid, H2, Rstd2, Gate, Up, Act;
        public Tensor? QPre, KPre, RstdQ, RstdK;
        public readonly Tensor?[] LoraHidden = new Tensor?[Block.LinearCount];
    }

    private BlockActivations Activations(string key, Block block, int tokens)
    {
        var s = Spec;
        int d = s.HiddenSize, qDim = s.NumHeads * s.HeadDim, kvDim = s.NumKvHeads * s.HeadDim, inter = s.IntermediateSize;
        var acts = new BlockActivations
        {
            H1 = _ws.Rows(key + "h1", tokens, d), Rstd1 = _ws.Rows(key + "rstd1", tokens, 1),
            Q = _ws.Rows(key + "q", tokens, qDim), K = _ws.Rows(key + "k", tokens, kvDim), V = _ws.Rows(key + "v", tokens, kvDim),
            Attn = _ws.Rows(key + "attn", tokens, qDim), Lse = _ws.Rows(key + "lse", tokens * s.NumHeads, 1),
            XMid = _ws.Rows(key + "xmid", tokens, d), H2 = _ws.Rows(key + "h2", tokens, d), Rstd2 = _ws.Rows(key + "rstd2", tokens, 1),
            Gate = _ws.Rows(key + "gate", tokens, inter), Up = _ws.Rows(key + "up", tokens, inter), Act = _ws.Rows(key + "act", tokens, inter),
        };
        if (s.QkNorm)
        {
            acts.QPre = _ws.Rows(key + "qpre", tokens, qDim); acts.KPre = _ws.Rows(key + "kpre", tokens, kvDim);
            acts.RstdQ = _ws.Rows(key + "rstdq", tokens * s.NumHeads, 1); acts.RstdK = _ws.Rows(key + "rstdk", tokens * s.NumKvHeads, 1);
        }
        var linears = block.Linears;
        for (int i = 0; i < linears.Length; i++)
            if (linears[i].Lora is { } lora) acts.LoraHidden[i] = _ws.Rows($"{key}lora{i}", tokens, lora.Rank);
        return acts;
    }

    private string ActivationKey(int layer) => GradientCheckpointing ? "ckpt." : $"L{layer}.";

    private ulong Seed(int layer, int linear) => DropoutSeedFor(_forwardCount, layer, linear);

    /// <summary>The LoRA dropout seed of a linear in the forward pass numbered <paramref name="forwardCount"/> (tests rebuild masks from it).</summary>
    internal ulong DropoutSeedFor(ulong forwardCount, int layer, int linear) =>
        CpuBackend.SplitMix64(DropoutSeed ^ (forwardCount << 24) ^ ((ulong)layer << 8) ^ (ulong)linear);

    /// <summary>The dropout seed of a forward linear: none when evaluating.</summary>
    private ulong? ForwardSeed(int layer, int linear) => _training ? Seed(layer, linear) : null;

    /// <summary>Residual stream entering each block and leaving the last: Residual(l) is [T, hidden].</summary>
    private Tensor Residual(int index, int tokens) => _ws.Rows($"R{index}.", tokens, Spec.HiddenSize);

    private void BlockForward(int layer, Tensor x, Tensor output, BlockActivations a, TokenBatch batch)
    {
        var be = Backend;
        var s = Spec;
        var b = Blocks[layer];
        float eps = (float)s.RmsNormEps;
        be.RmsNormForward(x, b.InputNorm.Value, s.NormWeightOffset, eps, a.H1, a.Rstd1);
        if (s.QkNorm)
        {
            b.Q.Forward(be, _ws, a.H1, a.QPre!, a.LoraHidden[0], ForwardSeed(layer, 0));
            b.K.Forward(be, _ws, a.H1, a.KPre!, a.LoraHidden[1], ForwardSeed(layer, 1));
            be.RmsNormForward(HeadRows(a.QPre!, s.NumHeads), b.QNorm!.Value, s.NormWeightOffset, eps, HeadRows(a.Q, s.NumHeads), a.RstdQ!);
            be.RmsNormForward(HeadRows(a.KPre!, s.NumKvHeads), b.KNorm!.Value, s.NormWeightOffset, eps, HeadRows(a.K, s.NumKvHeads), a.RstdK!);
        }
        else
        {
            b.Q.Forward(be, _ws, a.H1, a.Q, a.LoraHidden[0], ForwardSeed(layer, 0));
            b.K.Forward(be, _ws, a.H1, a.K, a.LoraHidden[1], ForwardSeed(layer, 1));
        }
        b.V.Forward(be, _ws, a.H1, a.V, a.LoraHidden[2], ForwardSeed(layer, 2));
        be.RopeForward(a.Q, s.NumHeads, s.HeadDim, batch.Positions, _rope);
        be.RopeForward(a.K, s.NumKvHeads, s.HeadDim, batch.Positions, _rope);
        be.AttentionForward(a.Q, a.K, a.V, batch.SegmentStart, s.NumHeads, s.NumKvHeads, s.HeadDim, AttentionScale, s.SlidingWindow, a.Attn, a.Lse);
        b.O.Forward(be, _ws, a.Attn, a.XMid, a.LoraHidden[3], ForwardSeed(layer, 3));
        be.AddScaled(a.XMid, x);                                                   // x_mid = x + o_proj(attn)
        be.RmsNormForward(a.XMid, b.PostNorm.Value, s.NormWeightOffset, eps, a.H2, a.Rstd2);
        b.Gate.Forward(be, _ws, a.H2, a.Gate, a.LoraHidden[4], ForwardSeed(layer, 4));
        b.Up.Forward(be, _ws, a.H2, a.Up, a.LoraHidden[5], ForwardSeed(layer, 5));
        be.GatedActivationForward(s.Activation, a.Gate, a.Up, a.Act);
        b.Down.Forward(be, _ws, a.Act, output, a.LoraHidden[6], ForwardSeed(layer, 6));
        be.AddScaled(output, a.XMid);                                              // out = x_mid + down(act)
    }

    /// <summary>The same memory seen as one row per head ([T·heads, headDim]) for per-head RMSNorm.</summary>
    private Tensor HeadRows(Tensor t, int heads) => Backend.Reshape(t, t.Rows * heads, Spec.HeadDim);

    private float AttentionScale => 1f / MathF.Sqrt(Spec.HeadDim);

    /// <summary>Runs embeddings and every block; returns the final-norm hidden states [T, hidden].</summary>
    private Tensor ForwardHidden(TokenBatch batch, bool training)
    {
        _forwardCount++;
        _training = training;
        RefreshDora(onlyIfChanged: false);
        int tokens = batch.Count;
        var be = Backend;
        var x0 = Residual(0, tokens);
        be.EmbeddingForward(batch.InputIds, Embed.Value, x0);
        if (Spec.EmbeddingScale != 1f) be.Scale(x0, Spec.EmbeddingScale);
        for (int l = 0; l < Blocks.Length; l++)
            BlockForward(l, Residual(l, tokens), Residual(l + 1, tokens), Activations(ActivationKey(l), Blocks[l], tokens), batch);
        var hN = _ws.Rows("final.h", tokens, Spec.HiddenSize);
        be.RmsNormForward(Residual(Blocks.Length, tokens), FinalNorm.Value, Spec.NormWeightOffset, (float)Spec.RmsNormEps, hN,
            _ws.Rows("final.rstd", tokens, 1));
        return hN;
    }

    /// <summary>
    /// Loss of a batch without gradients; in evaluation mode (no LoRA dropout) unless <paramref name="training"/>,
    /// which draws the same dropout masks a <see cref="ForwardBackward"/> at this forward count would.
    /// </summary>
    public CrossEntropyResult Loss(TokenBatch batch, bool training = false)
    {
        var hN = ForwardHidden(batch, training);
        return Backend.CrossEntropy(hN, LmHead.Value, batch.Targets, batch.Weights, 1f, null, null);
    }

    /// <summary>Logits [rows.Length, vocab] at the given token indices of the batch (e.g. each sequence's last token).</summary>
    public float[] Logits(TokenBatch batch, ReadOnlySpan<int> rows)
    {
        var hN = ForwardHidden(batch, training: false);
        var picked = _ws.Rows("logits.h", rows.Length, Spec.HiddenSize);
        Backend.GatherRows(picked, hN, rows);
        var logits = _ws.Rows("logits", rows.Length, Spec.VocabSize);
        Backend.MatMul(logits, picked, false, LmHead.Value, true);
        var result = new float[logits.Length];
        Backend.Download(logits, result);
        return result;
    }

    /// <summary>
    /// For each listed token of the batch: −log p(target) and whether the arg-max is the target, in evaluation mode.
    /// Logits are made a chunk of rows at a time (the fused cross-entropy's budget), never [rows, vocab] at once.
    /// </summary>
    public void ScoreTargets(TokenBatch batch, ReadOnlySpan<int> rows, Span<double> loss, Span<bool> argmaxIsTarget)
    {
        if (loss.Length != rows.Length || argmaxIsTarget.Length != rows.Length)
            throw new ArgumentException("loss and argmaxIsTarget need one entry per row");
        var hN = ForwardHidden(batch, training: false);
        int vocab = Spec.VocabSize, chunk = FusedCrossEntropy.ChunkRows(vocab);
        var host = new float[(long)Math.Min(chunk, Math.Max(rows.Length, 1)) * vocab];
        for (int start = 0; start < rows.Length; start += chunk)
        {
            int n = Math.Min(chunk, rows.Length - start);
            var picked = _ws.Rows("score.h", n, Spec.HiddenSize);
            Backend.GatherRows(picked, hN, rows.Slice(start, n));
            var logits = _ws.Rows("score.logits", n, vocab);
            Backend.MatMul(logits, picked, false, LmHead.Value, true);
            Backend.Download(logits, host.AsSpan(0, n * vocab));
            for (int k = 0; k < n; k++)
            {
                var row = host.AsSpan(k * vocab, vocab);
                int target = batch.Targets[rows[start + k]];
                float max = System.Numerics.Tensors.TensorPrimitives.Max(row);
                double sum = 0;
                foreach (float x in row) sum += Math.Exp(x - max);
                loss[start + k] = max + Math.Log(sum) - row[target];
                argmaxIsTarget[start + k] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row) == target;
            }
        }
    }

    // ───────────────────────────── backward ─────────────────────────────

    /// <summary>
    /// Forward, loss and backward for one micro-batch. Parameter gradients accumulate, scaled by
    /// <paramref name="gradScale"/> (1 / total loss weight of the whole accumulated batch).
    /// </summary>
    public CrossEntropyResult ForwardBackward(TokenBatch batch, float gradScale)
    {
        var be = Backend;
        var s = Spec;
        int tokens = batch.Count, d = s.HiddenSize;
        var hN = ForwardHidden(batch, training: true);

        var dRes = _ws.Rows("d.res", tokens, d);
        var dH = _ws.Rows("d.h", tokens, d);
        var result = be.CrossEntropy(hN, LmHead.Value, batch.Targets, batch.Weights, gradScale, dH, LmHead.Grad);
        be.RmsNormBackward(dH, Residual(Blocks.Length, tokens), FinalNorm.Value, s.NormWeightOffset, _ws.Rows("final.rstd", tokens, 1), dRes,
            FinalNorm.Grad);

        for (int l = Blocks.Length - 1; l >= 0; l--)
        {
            var acts = Activations(ActivationKey(l), Blocks[l], tokens);
            if (GradientCheckpointing)
                BlockForward(l, Residual(l, tokens), _ws.Rows("ckpt.out", tokens, d), acts, batch);
            BlockBackward(l, Residual(l, tokens), dRes, acts, batch);
        }

        if (Embed.Grad is not null)
        {
            if (s.EmbeddingScale != 1f) be.Scale(dRes, s.EmbeddingScale);
            be.EmbeddingBackward(batch.InputIds, dRes, Embed.Grad);
        }
        return result;
    }

    /// <summary>dRes: gradient w.r.t. the block's output on entry, w.r.t. its input x on exit (updated in place).</summary>
    private void BlockBackward(int layer, Tensor x, Tensor dRes, BlockActivations a, TokenBatch batch)
    {
        var be = Backend;
        var s = Spec;
        var b = Blocks[layer];
        int tokens = x.Rows, d = s.HiddenSize, inter = s.IntermediateSize;
        int qDim = s.NumHeads * s.HeadDim, kvDim = s.NumKvHeads * s.HeadDim;
        var dTmp = _ws.Rows("d.tmp", tokens, d);
        var dH = _ws.Rows("d.h", tokens, d);

        // MLP: out = x_mid + down(act(gate(h2)) · up(h2))
        var dAct = _ws.Rows("d.act", tokens, inter);
        var dGate = _ws.Rows("d.gate", tokens, inter);
        var dUp = _ws.Rows("d.up", tokens, inter);
        b.Down.Backward(be, _ws, dRes, a.Act, dAct, false, a.LoraHidden[6], Seed(layer, 6));
        be.GatedActivationBackward(s.Activation, dAct, a.Gate, a.Up, dGate, dUp);
        b.Gate.Backward(be, _ws, dGate, a.H2, dH, false, a.LoraHidden[4], Seed(layer, 4));
        b.Up.Backward(be, _ws, dUp, a.H2, dH, true, a.LoraHidden[5], Seed(layer, 5));
        be.RmsNormBackward(dH, a.XMid, b.PostNorm.Value, s.NormWeightOffset, a.Rstd2, dTmp, b.PostNorm.Grad);
        be.AddScaled(dRes, dTmp);                                                  // dRes = d x_mid

        // Attention: x_mid = x + o_proj(attn(rope(q), rope(k), v))
        var dAttn = _ws.Rows("d.attn", tokens, qDim);
        var dq = _ws.Rows("d.q", tokens, qDim);
        var dk = _ws.Rows("d.k", tokens, kvDim);
        var dv = _ws.Rows("d.v", tokens, kvDim);
        b.O.Backward(be, _ws, dRes, a.Attn, dAttn, false, a.LoraHidden[3], Seed(layer, 3));
        be.AttentionBackward(dAttn, a.Q, a.K, a.V, a.Attn, a.Lse, batch.SegmentStart, s.NumHeads, s.NumKvHeads, s.HeadDim,
            AttentionScale, s.SlidingWindow, dq, dk, dv);
        be.RopeBackward(dq, s.NumHeads, s.HeadDim, batch.Positions, _rope);
        be.RopeBackward(dk, s.NumKvHeads, s.HeadDim, batch.Positions, _rope);
        if (s.QkNorm)
        {
            var dqPre = _ws.Rows("d.qpre", tokens, qDim);
            var dkPre = _ws.Rows("d.kpre", tokens, kvDim);
            be.RmsNormBackward(HeadRows(dq, s.NumHeads), HeadRows(a.QPre!, s.NumHeads), b.QNorm!.Value, s.NormWeightOffset, a.RstdQ!,
                HeadRows(dqPre, s.NumHeads), b.QNorm.Grad);
            be.RmsNormBackward(HeadRows(dk, s.NumKvHeads), HeadRows(a.KPre!, s.NumKvHeads), b.KNorm!.Value, s.NormWeightOffset, a.RstdK!,
                HeadRows(dkPre, s.NumKvHeads), b.KNorm.Grad);
            dq = dqPre;
            dk = dkPre;
        }
        b.Q.Backward(be, _ws, dq, a.H1, dH, false, a.LoraHidden[0], Seed(layer, 0));
        b.K.Backward(be, _ws, dk, a.H1, dH, true, a.LoraHidden[1], Seed(layer, 1));
        b.V.Backward(be, _ws, dv, a.H1, dH, true, a.LoraHidden[2], Seed(layer, 2));
        be.RmsNormBackward(dH, x, b.InputNorm.Value, s.NormWeightOffset, a.Rstd1, dTmp, b.InputNorm.Grad);
        be.AddScaled(dRes, dTmp);                                                  // dRes = d x
    }

    public void Dispose()
    {
        _ws.Dispose();
        foreach (var linear in LoraLinears) linear.Lora!.Dora?.Dispose();
        foreach (var p in _parameters) p.Dispose();
    }
}

/// <summary>One transformer block's parameters, named as in Hugging Face.</summary>
internal sealed class Block
{
    public const int LinearCount = 7;
    public required Parameter InputNorm { get; init; }
    public required Linear Q { get; init; }
    public required Linear K { get; init; }
    public required Linear V { get; init; }
    public required Linear O { get; init; }
    public Parameter? QNorm { get; init; }
    public Parameter? KNorm { get; init; }
    public required Parameter PostNorm { get; init; }
    public required Linear Gate { get; init; }
    public required Linear Up { get; init; }
    public required Linear Down { get; init; }

    /// <summary>In LoRA order: q, k, v, o, gate, up, down (indexes of saved LoRA activations and dropout seeds).</summary>
    public Linear[] Linears => [Q, K, V, O, Gate, Up, Down];

    public IEnumerable<Parameter> Parameters()
    {
        yield return InputNorm;
        foreach (var l in new[] { Q, K, V, O })
        {
            yield return l.Weight;
            if (l.Bias is not null) yield return l.Bias;
        }
        if (QNorm is not null) yield return QNorm;
        if (KNorm is not null) yield return KNorm;
        yield return PostNorm;
        foreach (var l in new[] { Gate, Up, Down })
        {
            yield return l.Weight;
            if (l.Bias is not null) yield return l.Bias;
        }
    }
}
