namespace Scalpel.Server.Mcp;

/// <summary>
/// A training run or a job that tool calls start and then follow: it runs on its own thread, can be cancelled, records
/// its error, and wakes whoever waits on it (<see cref="WaitForChange"/>) at each report and at the end.
/// </summary>
internal abstract class BackgroundWork(string id)
{
    public string Id { get; } = id;
    public CancellationTokenSource Cancel { get; } = new();
    public volatile string? Error;
    public volatile bool Done;
    public Task Task { get; private set; } = Task.CompletedTask;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Wakes the followers: a report came in or the work ended.</summary>
    public void Signal() => Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>
    /// Runs <paramref name="body"/> on a long-running thread. Its exception becomes <see cref="Error"/> ("cancelled"
    /// when a cancel was asked for); then <see cref="Finished"/>, <see cref="Done"/> and a last signal.
    /// </summary>
    public void Start(Action body)
    {
        Task = Task.Factory.StartNew(() =>
        {
            try { body(); }
            catch (OperationCanceledException) when (Cancel.IsCancellationRequested) { Error = "cancelled"; }
            catch (Exception e) { Error = e.Message; }
            finally
            {
                Finished();
                Done = true;
                Signal();
            }
        }, TaskCreationOptions.LongRunning);
    }

    /// <summary>Called once the body returned or threw, before <see cref="Done"/> is set.</summary>
    protected virtual void Finished() { }

    /// <summary>Waits until the work reports or ends, or <paramref name="timeout"/> passes.</summary>
    public async Task WaitForChange(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (Done) return;
        await Task.WhenAny(Volatile.Read(ref _changed).Task, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Cancels every one still running and waits for them, at most <paramref name="timeout"/>.</summary>
    public static void StopAll(IEnumerable<BackgroundWork> all, TimeSpan timeout)
    {
        var running = all.Where(w => !w.Done).ToList();
        foreach (var work in running) work.Cancel.Cancel();
        Task.WaitAll(running.Select(w => w.Task).ToArray(), timeout);
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread (no synchronization context hop).</summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
