using System.Text.Json.Nodes;
using Scalpel.Backends.Cpu;
using Scalpel.Generation;
using Scalpel.Models;
using Scalpel.Tests.Models;
using Scalpel.Text;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Generation;

/// <summary>Continuous batching for concurrent callers: same answers as one at a time, bounded queue, cancellation.</summary>
public sealed class BatchSchedulerTests : IDisposable
{
    private readonly TinyCheckpoint.TempDir _dir = new();
    private readonly DecoderModel _model;
    private readonly Tokenizer _tokenizer;
    private readonly Generator _generator;

    public BatchSchedulerTests()
    {
        PipelineCheck.WriteTinyModel(_dir.Path, seed: 8);
        _model = DecoderModel.Load(_dir.Path, new CpuBackend());
        _tokenizer = Tokenizer.FromDirectory(_dir.Path);
        _generator = new Generator(_model, _tokenizer, []);
    }

    public void Dispose()
    {
        _model.Dispose();
        _dir.Dispose();
    }

    private GenerationRequest Request(string text, int maxNew) => new() { PromptIds = _tokenizer.Encode(text), MaxNewTokens = maxNew };

    [Fact]
    public async Task ConcurrentCallersGetTheAnswersOfSequentialRuns()
    {
        var texts = Enumerable.Range(0, 24).Select(i => $"request number {i} apple").ToArray();
        var expected = texts.Select((t, i) => _generator.Generate(Request(t, 4 + i % 7)).Tokens).ToArray();
        using var scheduler = new BatchScheduler(_generator, maxBatch: 5, maxQueue: 64, contextLength: 64);
        var tasks = texts.Select((t, i) => Task.Run(() => scheduler.Submit(Request(t, 4 + i % 7)))).ToArray();
        var results = await Task.WhenAll(tasks);
        for (int i = 0; i < texts.Length; i++) Assert.Equal(expected[i], results[i].Tokens);
        Assert.Equal(0, scheduler.Active);
        Assert.Equal(0, scheduler.Waiting);
    }

    [Fact]
    public async Task AFullQueueRefusesAtOnceAndCancelledRequestsEnd()
    {
        using var scheduler = new BatchScheduler(_generator, maxBatch: 1, maxQueue: 2, contextLength: 64);
        using var gone = new CancellationTokenSource();
        gone.Cancel();
        // A long request holds the only slot; the next two wait (one of them from a client that already left); a fourth is refused.
        var running = scheduler.Submit(Request("hold the slot", 50));
        SpinWait.SpinUntil(() => scheduler.Active == 1, 5000);
        var waiting = scheduler.Submit(Request("wait", 2));
        var abandoned = scheduler.Submit(Request("left", 2) with { Cancellation = gone.Token });
        var refused = Assert.Throws<QueueFullException>(() => { _ = scheduler.Submit(Request("one too many", 2)); });
        Assert.Contains("retry", refused.Message);
        Assert.Equal(2, (await waiting).Tokens.Length);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await abandoned);
        Assert.True((await running).Tokens.Length > 2);

        // A client that leaves mid-answer frees its slot at the next step.
        using var leaving = new CancellationTokenSource();
        int pieces = 0;
        var cut = scheduler.Submit(Request("stream then leave", 50) with { OnText = _ => { if (++pieces == 2) leaving.Cancel(); }, Cancellation = leaving.Token });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cut);
        Assert.Equal(0, scheduler.Active);
    }

    [Fact]
    public void PromptsLongerThanTheContextAreRefused()
    {
        using var scheduler = new BatchScheduler(_generator, maxBatch: 2, maxQueue: 4, contextLength: 16);
        var error = Assert.Throws<GenerationException>(() => { _ = scheduler.Submit(new GenerationRequest { PromptIds = new int[16], MaxNewTokens = 1 }); });
        Assert.Contains("context", error.Message);
    }
}
