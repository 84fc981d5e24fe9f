using System.Diagnostics;
using System.Globalization;
using Scalpel.IO.Hub;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel pull ORG/NAME</c>: download a model from the Hugging Face Hub into the shared hub cache (the one the
/// Python tools use) and print the snapshot folder, a model folder every other command reads.
/// </summary>
internal static class PullCommand
{
    private const string Usage =
        "usage: scalpel pull ORG/NAME [--revision R] [--include PATTERNS] [--cache-dir DIR] [--endpoint URL] [--jobs N] [--offline]\n" +
        "  --revision R         branch, tag or commit (default main)\n" +
        "  --include PATTERNS   comma-separated globs, e.g. '*.safetensors,*.json,tokenizer*' (default: every file)\n" +
        "  --cache-dir DIR      hub cache folder (default HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub)\n" +
        "  --endpoint URL       hub address (default HF_ENDPOINT or https://huggingface.co)\n" +
        "  --jobs N             files downloaded at once (default 4)\n" +
        "  --offline            use the cache only (also HF_HUB_OFFLINE=1)\n" +
        "The token comes from HF_TOKEN or the token file written by `hf auth login`.";

    public static int Run(string[] args)
    {
        string? repo = null, revision = null, include = null, cacheDir = null, endpoint = null;
        int jobs = 4;
        bool offline = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value\n{Usage}");
            switch (args[i])
            {
                case "--revision": revision = Value(); break;
                case "--include": include = Value(); break;
                case "--cache-dir": cacheDir = Value(); break;
                case "--endpoint": endpoint = Value(); break;
                case "--jobs":
                    string n = Value();
                    if (!int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out jobs) || jobs is < 1 or > 64)
                        throw new UsageException($"--jobs must be a number from 1 to 64, not '{n}'");
                    break;
                case "--offline": offline = true; break;
                case "--help" or "-h": Console.WriteLine(Usage); return 0;
                case var a when a.StartsWith('-'): throw new UsageException($"unknown option '{a}'\n{Usage}");
                case var a when repo is null: repo = a; break;
                default: throw new UsageException($"unexpected argument '{args[i]}'\n{Usage}");
            }
        }
        if (repo is null) throw new UsageException(Usage);
        if (!HubClient.IsValidRepoId(repo)) throw new UsageException($"'{repo}' is not a Hub repository id like ORG/NAME\n{Usage}");
        if (revision is not null && !HubClient.IsValidRevision(revision)) throw new UsageException($"'{revision}' is not a valid revision");
        var patterns = include?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (include is not null && patterns!.Length == 0) throw new UsageException($"--include needs at least one pattern\n{Usage}");

        var options = new HubDownloadOptions
        {
            Revision = revision ?? "main",
            Include = patterns,
            CacheDir = cacheDir,
            Endpoint = endpoint,
            Offline = offline ? true : null,
            MaxParallelDownloads = jobs,
        };
        var display = new PullDisplay(Console.Error, $"{repo}@{options.Revision}",
            interactive: !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") != "dumb");
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            using var client = new HubClient();
            string folder = client.DownloadSnapshotAsync(repo, options, display, cts.Token).GetAwaiter().GetResult();
            display.Finish(ok: true);
            Console.WriteLine(folder);
            return 0;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            display.Finish(ok: false);
            Console.Error.WriteLine("scalpel: pull interrupted; run it again to resume");
            return 130;
        }
        catch
        {
            display.Finish(ok: false);
            throw;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>
    /// Progress on stderr. On a terminal: one status line redrawn in place (total, rate, current file) and a line per
    /// finished file. Otherwise plain lines only: one per file, and the total every few seconds.
    /// </summary>
    private sealed class PullDisplay(TextWriter err, string label, bool interactive) : IProgress<HubProgress>
    {
        private readonly Lock _lock = new();
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _lastDraw, _bytes, _totalSize, _startBytes = -1;
        private int _statusWidth, _files, _filesDone;
        private string? _current;

        public void Report(HubProgress p)
        {
            lock (_lock)
            {
                long now = _clock.ElapsedMilliseconds;
                _bytes = Math.Max(_bytes, p.TotalBytes);
                switch (p.Kind)
                {
                    case HubProgressKind.Resolved:
                        Line($"{label}: commit {p.Commit?[..Math.Min(12, p.Commit.Length)]}, {p.FileCount} file{(p.FileCount == 1 ? "" : "s")} selected");
                        break;
                    case HubProgressKind.Planned:
                        _files = p.FileCount;
                        _totalSize = p.TotalSize;
                        Line(p.FileCount == 0 ? "everything is in the cache already" : $"downloading {p.FileCount} file{(p.FileCount == 1 ? "" : "s")}, {Bytes(p.TotalSize)}");
                        break;
                    case HubProgressKind.UsingCache:
                        Line($"{label}: the hub was not used ({p.Message}); serving the cached snapshot");
                        break;
                    case HubProgressKind.Retrying:
                        Line($"  retrying: {p.Message}");
                        break;
                    case HubProgressKind.FileStarted:
                        if (_startBytes < 0) { _startBytes = p.TotalBytes - p.FileBytes; }
                        _current = p.File;
                        if (p.FileBytes > 0) Line($"  {p.File}: resuming at {Bytes(p.FileBytes)}");
                        break;
                    case HubProgressKind.Bytes:
                        _current = p.File;
                        if (interactive ? now - _lastDraw >= 100 : now - _lastDraw >= 5000) { _lastDraw = now; Status(now); }
                        break;
                    case HubProgressKind.FileDone:
                        if (p.Message is null) _filesDone++;
                        Line($"  {p.File}  {Bytes(p.FileSize ?? 0)}{(p.Message is null ? "" : $" ({p.Message})")}");
                        break;
                }
            }
        }

        public void Finish(bool ok)
        {
            lock (_lock)
            {
                ClearStatus();
                if (ok && _files > 0) err.WriteLine($"downloaded {Bytes(_bytes - Math.Max(0, _startBytes))} in {_clock.Elapsed.TotalSeconds:F1} s");
                err.Flush();
            }
        }

        private void Status(long now)
        {
            string pct = _totalSize > 0 ? $" ({100.0 * _bytes / _totalSize:F0}%)" : "";
            double seconds = Math.Max(0.001, now / 1000.0);
            string text = $"  [{_filesDone}/{_files}] {Bytes(_bytes)} / {Bytes(_totalSize)}{pct}  {Bytes((long)((_bytes - Math.Max(0, _startBytes)) / seconds))}/s  {_current}";
            if (!interactive) { err.WriteLine(text); return; }
            err.Write("\r" + text.PadRight(_statusWidth));
            _statusWidth = text.Length;
        }

        private void Line(string text)
        {
            ClearStatus();
            err.WriteLine(text);
        }

        private void ClearStatus()
        {
            if (!interactive || _statusWidth == 0) return;
            err.Write("\r" + new string(' ', _statusWidth) + "\r");
            _statusWidth = 0;
        }

        private static string Bytes(long n) => n switch
        {
            < 1_000 => $"{n} B",
            < 1_000_000 => $"{n / 1e3:F1} KB",
            < 1_000_000_000 => $"{n / 1e6:F1} MB",
            _ => $"{n / 1e9:F2} GB",
        };
    }
}
