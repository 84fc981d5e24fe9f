using Scalpel.Backends;
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

    public Trainer(DecoderModel model, TrainerOptions options)
    {
        _model = model;
        _be = model.Backend;
        Options = options;
        Schedule = new LearningRateSchedule(options.LearningRate, options.WarmupSteps, options.TotalSteps, options.MinLearningRateRatio);
        foreach (var p in model.TrainableParameters)
            _state.Add((p, _be.Allocate(DType.F32, p.Value.Shape), _be.Allocate(DType.F32, p.Value.Shape)));
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
        foreach (var (p, m, v) in _state)
            _be.AdamWStep(p.Value, p.Grad!, m, v, lr, Options.Beta1, Options.Beta2, Options.Epsilon,
                p.Decays ? Options.WeightDecay : 0f, Step);

        return new StepResult(Step, lossSum / totalWeight, norm, lr, microBatches.Sum(b => b.Count));
    }

    public void Dispose()
    {
        foreach (var (_, m, v) in _state) { m.Dispose(); v.Dispose(); }
    }
}
