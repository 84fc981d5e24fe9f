using System.Globalization;
using Scalpel.Backends;
using Scalpel.IO;
using Scalpel.Models;
using Scalpel.Tensors;

namespace Scalpel.Training;

public sealed record TrainerOptions
{
    public float LearningRate { get; init; } = 2e-4f;
    public int WarmupSteps { get; init; }
    public int TotalSteps { get; init; } = 100;
    public float MinLearningRateRatio { get; init; }
    public float WeightDecay { get; init; }
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.999f;
    public float Epsilon { get; init; } = 1e-8f;
    /// <summary>Clip the global gradient norm to this; 0 disables clipping.</summary>
    public float MaxGradNorm { get; init; } = 1f;
    /// <summary>
    /// LoRA+: LoRA B matrices (and, as peft's create_loraplus_optimizer groups them, every trainable 1-D parameter,
    /// e.g. DoRA magnitudes) learn at this multiple of the scheduled rate; null = one rate for all.
    /// </summary>
    public float? LoraPlusLrRatio { get; init; }
}

/// <summary>What one optimizer step did.</summary>
public readonly record struct StepResult(int Step, double Loss, double GradNorm, float LearningRate, int Tokens);

/// <summary>
/// The training loop's inner step, readable top to bottom: zero grads → forward/backward each micro-batch
/// (gradients normalised by the loss weight of the whole accumulated batch) → clip → AdamW at the scheduled rate.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly DecoderModel _model;
    private readonly IBackend _be;
    private readonly List<(Parameter P, Tensor M, Tensor V)> _state = [];
    /// <summary>Each trainable parameter's multiple of the scheduled learning rate (LoRA+), in <see cref="_state"/>'s order.</summary>
    private readonly List<float> _lrScale = [];

    public Trainer(DecoderModel model, TrainerOptions options)
    {
        _model = model;
        _be = model.Backend;
        Options = options;
        Schedule = new LearningRateSchedule(options.LearningRate, options.WarmupSteps, options.TotalSteps, options.MinLearningRateRatio);
        foreach (var p in model.TrainableParameters)
        {
            _state.Add((p, _be.Allocate(DType.F32, p.Value.Shape), _be.Allocate(DType.F32, p.Value.Shape)));
            _lrScale.Add(LearningRateScale(p, options));
        }
        if (_state.Count == 0) throw new InvalidOperationException("nothing to train: apply LoRA or enable full fine-tuning first");
    }

    public TrainerOptions Options { get; }
    public LearningRateSchedule Schedule { get; }
    /// <summary>Optimizer steps taken so far.</summary>
    public int Step { get; private set; }

    public StepResult TrainStep(IReadOnlyList<TokenBatch> microBatches, CancellationToken cancellationToken = default)
    {
        double totalWeight = microBatches.Sum(b => b.LossWeight);
        if (totalWeight <= 0) throw new ArgumentException("the batch has no token that carries loss");

        _model.ZeroGradients();
        double lossSum = 0;
        foreach (var batch in microBatches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            lossSum += _model.ForwardBackward(batch, (float)(1.0 / totalWeight)).LossSum;
        }

        double norm = Math.Sqrt(_state.Sum(s => _be.SumOfSquares(s.P.Grad!)));
        if (Options.MaxGradNorm > 0 && norm > Options.MaxGradNorm)
        {
            // Same factor as torch.nn.utils.clip_grad_norm_.
            float factor = (float)(Options.MaxGradNorm / (norm + 1e-6));
            foreach (var s in _state) _be.Scale(s.P.Grad!, factor);
        }

        float lr = Schedule.At(Step);
        Step++;
        for (int i = 0; i < _state.Count; i++)
        {
            var (p, m, v) = _state[i];
            _be.AdamWStep(p.Value, p.Grad!, m, v, lr * _lrScale[i], Options.Beta1, Options.Beta2, Options.Epsilon,
                p.Decays ? Options.WeightDecay : 0f, Step);
            p.MarkChanged();
        }

        return new StepResult(Step, lossSum / totalWeight, norm, lr, microBatches.Sum(b => b.Count));
    }

    /// <summary>LoRA+ groups as peft's create_loraplus_optimizer: "lora_B" in the name or a 1-D parameter → lr × ratio.</summary>
    private static float LearningRateScale(Parameter p, TrainerOptions options) =>
        options.LoraPlusLrRatio is { } ratio && (p.Name.Contains(".lora_B.", StringComparison.Ordinal) || p.Value.Shape.Length == 1) ? ratio : 1f;

    /// <summary>
    /// Saves what resuming needs besides the weights: AdamW moments (<c>&lt;param&gt;.exp_avg</c>,
    /// <c>.exp_avg_sq</c>), the step count and the dropout-mask stream, in one safetensors file written atomically.
    /// </summary>
    public void SaveState(string path)
    {
        var writer = new SafeTensorsWriter();
        foreach (var (p, m, v) in _state)
        {
            // Downloaded a band of rows at a time while the file is written: the moments are twice the trainable parameters.
            writer.Add(p.Name + ".exp_avg", DType.F32, p.Value.Shape, _be.RangeDownloader(m));
            writer.Add(p.Name + ".exp_avg_sq", DType.F32, p.Value.Shape, _be.RangeDownloader(v));
        }
        writer.Save(path, new Dictionary<string, string>
        {
            ["step"] = Step.ToString(CultureInfo.InvariantCulture),
            // Dropout masks are drawn from (seed, forward count): restoring it makes resumed masks the same.
            ["forward_count"] = _model.ForwardCount.ToString(CultureInfo.InvariantCulture),
            ["dropout_seed"] = _model.DropoutSeed.ToString(CultureInfo.InvariantCulture),
        });
    }

    /// <summary>Restores <see cref="SaveState"/>'s file; every trainable parameter must be there with its shape.</summary>
    public void LoadState(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        if (!file.Metadata.TryGetValue("step", out var stepText) || !int.TryParse(stepText, CultureInfo.InvariantCulture, out int step) || step < 0)
            throw new SafeTensorsFormatException($"{path}: optimizer state has no valid 'step' metadata");
        foreach (var (p, m, v) in _state)
        {
            foreach (var (suffix, tensor) in new[] { (".exp_avg", m), (".exp_avg_sq", v) })
            {
                if (!file.Tensors.TryGetValue(p.Name + suffix, out var info) || !info.Shape.SequenceEqual(p.Value.Shape))
                    throw new SafeTensorsFormatException($"{path}: optimizer state for '{p.Name}{suffix}' is missing or has another shape");
                var values = new float[tensor.Length];
                file.ReadAsF32(p.Name + suffix, values);
                _be.Upload(tensor, values);
            }
        }
        Step = step;
        if (file.Metadata.TryGetValue("forward_count", out var fc) && ulong.TryParse(fc, CultureInfo.InvariantCulture, out ulong count))
            _model.ForwardCount = count;
        if (file.Metadata.TryGetValue("dropout_seed", out var ds) && ulong.TryParse(ds, CultureInfo.InvariantCulture, out ulong seed))
            _model.DropoutSeed = seed;
    }

    public void Dispose()
    {
        foreach (var (_, m, v) in _state) { m.Dispose(); v.Dispose(); }
    }
}
