using System.Collections.Concurrent;
using Scalpel.Models;

namespace Scalpel.Generation;

/// <summary>The wait queue is full; the caller should retry later (HTTP 429).</summary>
public sealed class QueueFullException(string message) : Exception(message);

/// <summary>
/// Continuous batching for concurrent callers (a server): requests from any thread join a shared decode loop on one
/// background thread, which runs up to <c>maxBatch</c> sequences per step over a pool of KV-cache slots. A request
/// starts at the next step after a slot frees up; at most <c>maxQueue</c> wait, and more are refused at once.
/// </summary>
public sealed class BatchScheduler : IDisposable
{
    private readonly Generator _generator;
    private readonly KvCache _cache;
    private readonly ConcurrentQueue<Pending> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly int _maxQueue;
    private int _waiting;
    private int _active;

    private sealed record Pending(GenerationRequest Request, TaskCompletionSource<GenerationResult> Completion);

    public BatchScheduler(Generator generator, int maxBatch, int maxQueue, int contextLength)
    {
        _generator = generator;
        _maxQueue = maxQueue;
        _cache = generator.Model.CreateKvCache(maxBatch, Math.Min(contextLength, generator.Model.Spec.MaxPositions));
        _thread = new Thread(Loop) { IsBackground = true, Name = "scalpel-decode" };
        _thread.Start();
    }

    /// <summary>Tokens one sequence may hold (prompt + answer).</summary>
    public int ContextLength => _cache.MaxLength;
    public int MaxBatch => _cache.Sequences;
    public int Waiting => Volatile.Read(ref _waiting);
    public int Active => Volatile.Read(ref _active);

    /// <summary>
    /// Queues a request. Throws <see cref="QueueFullException"/> when the queue is full and
    /// <see cref="GenerationException"/> when the prompt does not fit the context; the answer is capped to the room left.
    /// </summary>
    public Task<GenerationResult> Submit(GenerationRequest request)
    {
        if (request.PromptIds.Length >= ContextLength)
            throw new GenerationException($"the prompt has {request.PromptIds.Length} tokens; this server's context holds {ContextLength} per request");
        request = request with { MaxNewTokens = Math.Min(request.MaxNewTokens, ContextLength - request.PromptIds.Length) };
        _generator.CheckedLength(request);
        if (Interlocked.Increment(ref _waiting) > _maxQueue)
        {
            Interlocked.Decrement(ref _waiting);
            throw new QueueFullException($"{_maxQueue} requests are already waiting; retry shortly");
        }
        var completion = new TaskCompletionSource<GenerationResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Enqueue(new Pending(request, completion));
        _signal.Release();
        return completion.Task;
    }

    private void Loop()
    {
        var active = new Generator.SequenceRun?[_cache.Sequences];
        var owners = new Dictionary<int, Pending>();
        int nextId = 0;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                _signal.Wait(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            try
            {
                _generator.Run(_cache, active, Next, Finished);
            }
            catch (Exception e)
            {
                // A failure fails the sequences in flight, not the server: the next request starts clean.
                foreach (var p in owners.Values) p.Completion.TrySetException(e);
                owners.Clear();
                Array.Clear(active);
                Volatile.Write(ref _active, 0);
            }
        }
        foreach (var p in owners.Values) p.Completion.TrySetCanceled();
        while (_queue.TryDequeue(out var left)) left.Completion.TrySetCanceled();

        (int, Generator.SequenceRun)? Next()
        {
            while (_queue.TryDequeue(out var pending))
            {
                Interlocked.Decrement(ref _waiting);
                if (pending.Request.Cancellation.IsCancellationRequested)
                {
                    pending.Completion.TrySetCanceled();
                    continue;
                }
                int id = nextId++;
                owners[id] = pending;
                Interlocked.Increment(ref _active);
                return (id, new Generator.SequenceRun(_generator, pending.Request, cachedPrefix: 0));
            }
            return null;
        }

        void Finished(int id, GenerationResult result)
        {
            if (!owners.Remove(id, out var pending)) return;
            Interlocked.Decrement(ref _active);
            if (result.FinishReason == FinishReason.Cancelled) pending.Completion.TrySetCanceled();
            else pending.Completion.TrySetResult(result);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _cache.Dispose();
        _signal.Dispose();
    }
}
