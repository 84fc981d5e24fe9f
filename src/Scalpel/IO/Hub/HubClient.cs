using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Scalpel.IO.Hub;

/// <summary>
/// Downloads model repositories from the Hugging Face Hub (or anything speaking its protocol at HF_ENDPOINT) into the
/// shared hub cache (<see cref="HubCache"/>), the way huggingface_hub's snapshot_download does:
/// <list type="number">
/// <item><c>GET {endpoint}/api/models/{repo}/revision/{revision}</c>: the commit (<c>sha</c>) and the files (<c>siblings[].rfilename</c>).</item>
/// <item>For each selected file not yet in snapshots/{commit}: <c>HEAD {endpoint}/{repo}/resolve/{commit}/{path}</c>, following only
/// redirects on the same host; the ETag (for LFS files <c>X-Linked-Etag</c>, their SHA-256) names the blob and
/// <c>X-Linked-Size</c>/Content-Length gives the size.</item>
/// <item>Blobs not in blobs/ yet: <c>GET</c> the same URL following redirects (the token goes to the endpoint's host only,
/// never to a CDN), into blobs/{etag}.incomplete, resumed with <c>Range</c> when a part is there, size and (LFS) SHA-256
/// checked, then renamed into place and linked from the snapshot.</item>
/// </list>
/// Transient failures (5xx, 429, dropped connections, stalls longer than the timeout) are retried with backoff; the
/// revision falls back to a complete cached snapshot when the hub cannot be reached or HF_HUB_OFFLINE is set.
/// </summary>
public sealed partial class HubClient : IDisposable
{
    private const int MaxRedirects = 10;
    private static readonly string UserAgent = "scalpel/" + (typeof(HubClient).Assembly.GetName().Version?.ToString(3) ?? "0");

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly HubEnvironment _env;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _blobLocks = new(StringComparer.Ordinal);

    /// <param name="http">Client to send requests with; it must not follow redirects itself (the token must not go to
    /// other hosts, and HEAD answers are read before any cross-host redirect). Null: <see cref="CreateHttpClient"/>.</param>
    /// <param name="environment">Where unset options come from. Null: the process environment.</param>
    public HubClient(HttpClient? http = null, HubEnvironment? environment = null)
    {
        _env = environment ?? HubEnvironment.Process;
        _ownsHttp = http is null;
        _http = http ?? CreateHttpClient();
    }

    /// <summary>An HttpClient as the hub client needs it: no automatic redirects, no content decoding, no overall timeout
    /// (stalls are caught per read instead).</summary>
    public static HttpClient CreateHttpClient() => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(30),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    })
    { Timeout = System.Threading.Timeout.InfiniteTimeSpan };

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    /// <summary>A Hub repository id: <c>NAME</c> or <c>ORG/NAME</c> with letters, digits, '_', '-', '.', no '--' or '..'.</summary>
    public static bool IsValidRepoId(string repoId) =>
        repoId.Length <= 96 && RepoIdPattern().IsMatch(repoId) && !repoId.Contains("--") && !repoId.Contains("..")
        && !repoId.EndsWith(".git", StringComparison.Ordinal);

    /// <summary>A branch, tag or commit that is safe to use as a path under refs/.</summary>
    public static bool IsValidRevision(string revision) => revision.Length is > 0 and <= 256 && IsSafeRelativePath(revision);

    /// <summary>
    /// Makes sure the selected files of <paramref name="repoId"/> at <see cref="HubDownloadOptions.Revision"/> are in the
    /// cache and returns the snapshot folder (a model folder other commands can read). Only missing files are fetched.
    /// </summary>
    /// <exception cref="HubException">The hub refused or failed, a transfer was corrupt, or offline without a complete snapshot.</exception>
    /// <exception cref="ArgumentException">A malformed repository id, revision, endpoint or option.</exception>
    public async Task<string> DownloadSnapshotAsync(string repoId, HubDownloadOptions? options, IProgress<HubProgress>? progress,
                                                    CancellationToken ct = default)
    {
        options ??= new HubDownloadOptions();
        if (!IsValidRepoId(repoId)) throw new ArgumentException($"'{repoId}' is not a Hub repository id like ORG/NAME");
        if (!IsValidRevision(options.Revision)) throw new ArgumentException($"'{options.Revision}' is not a valid revision");
        if (options.MaxParallelDownloads < 1) throw new ArgumentException("MaxParallelDownloads must be at least 1");
        if (options.MaxAttempts < 1) throw new ArgumentException("MaxAttempts must be at least 1");
        if (options.Timeout <= TimeSpan.Zero) throw new ArgumentException("Timeout must be positive");

        string cacheRoot = options.CacheDir ?? _env.HubCache;
        var cache = new HubCache(cacheRoot, repoId);
        var include = new HubPatterns(options.Include);
        string label = $"{repoId}@{options.Revision}";

        if (options.Offline ?? _env.Offline)
        {
            var (folder, why) = cache.FindCompleteSnapshot(options.Revision, include);
            if (folder is null) throw new HubException($"{label}: offline (HF_HUB_OFFLINE) and not complete in the cache {cacheRoot}: {why}");
            progress?.Report(new HubProgress(HubProgressKind.UsingCache, Message: "offline mode"));
            return folder;
        }

        string endpoint = (options.Endpoint ?? _env.Endpoint).TrimEnd('/');
        if (!Uri.TryCreate(endpoint + "/", UriKind.Absolute, out var endpointUri) || endpointUri.Scheme is not ("http" or "https"))
            throw new ArgumentException($"hub endpoint '{endpoint}' is not an http(s) URL");
        var s = new Session(repoId, label, endpoint, endpointUri, options.Token ?? _env.Token, options, progress, cache);

        RepoInfo info;
        try
        {
            info = await GetRepoInfoAsync(s, ct).ConfigureAwait(false);
        }
        catch (HubException e) when (e.Kind == HubFailure.Unreachable)
        {
            var (folder, why) = cache.FindCompleteSnapshot(options.Revision, include);
            if (folder is null) throw new HubException($"{e.Message}; and not complete in the cache {cacheRoot}: {why}", e.Kind, e);
            progress?.Report(new HubProgress(HubProgressKind.UsingCache, Message: e.Message));
            return folder;
        }

        string commit = info.Commit;
        if (options.Revision != commit) cache.WriteRef(options.Revision, commit);
        cache.WriteManifest(commit, info.Files);
        var selected = info.Files.Where(include.Matches).ToList();
        if (selected.Count == 0)
            throw new HubException($"{label}: no file of the repository matches '{string.Join(',', options.Include ?? [])}'", HubFailure.Permanent);
        progress?.Report(new HubProgress(HubProgressKind.Resolved, FileCount: selected.Count, Commit: commit));
        s.Commit = commit;

        // Files at a commit never change: what the snapshot already holds is done.
        var missing = selected.Where(f => !cache.HasFile(commit, f)).ToList();
        var metas = new ConcurrentBag<FileMeta>();
        await ForEachAsync(missing, options.MaxParallelDownloads, async (path, token) =>
            metas.Add(await HeadAsync(s, path, token).ConfigureAwait(false)), ct).ConfigureAwait(false);

        // Blobs already there (unchanged files of an older commit) are only linked; the rest is fetched once per blob.
        var toFetch = new List<IGrouping<string, FileMeta>>();
        foreach (var group in metas.GroupBy(m => m.Etag))
        {
            if (HubCache.Resolves(cache.BlobPath(group.Key)))
                foreach (var m in group) LinkAndReport(s, m, "cached");
            else toFetch.Add(group);
        }
        long totalSize = toFetch.Sum(g => g.First().Size ?? 0);
        progress?.Report(new HubProgress(HubProgressKind.Planned, FileCount: toFetch.Count, TotalSize: totalSize));
        s.TotalSize = totalSize;

        await ForEachAsync(toFetch, options.MaxParallelDownloads, async (group, token) =>
        {
            var first = group.OrderBy(m => m.Path, StringComparer.Ordinal).First();
            await DownloadBlobAsync(s, first, token).ConfigureAwait(false);
            foreach (var m in group) LinkAndReport(s, m, null);
        }, ct).ConfigureAwait(false);

        var absent = selected.Where(f => !cache.HasFile(commit, f)).ToList();
        if (absent.Count > 0) throw new HubException($"{label}: {absent[0]} is missing from the snapshot after the download", HubFailure.Permanent);
        return cache.SnapshotFolder(commit);
    }

    private void LinkAndReport(Session s, FileMeta m, string? message)
    {
        s.Cache.Link(s.Commit, m.Path, m.Etag, s.Options.UseSymlinks);
        s.Progress?.Report(new HubProgress(HubProgressKind.FileDone, m.Path, m.Size ?? 0, m.Size,
            Interlocked.Read(ref s.TotalBytes), s.TotalSize, Message: message));
    }

    // ---- requests ----

    private sealed record RepoInfo(string Commit, List<string> Files);

    private sealed record FileMeta(string Path, string Etag, long? Size, bool Lfs);

    private sealed class Session(string repoId, string label, string endpoint, Uri endpointUri, string? token,
                                 HubDownloadOptions options, IProgress<HubProgress>? progress, HubCache cache)
    {
        public string RepoId { get; } = repoId;
        public string Label { get; } = label;
        public string Endpoint { get; } = endpoint;
        public Uri EndpointUri { get; } = endpointUri;
        public string? Token { get; } = token;
        public HubDownloadOptions Options { get; } = options;
        public IProgress<HubProgress>? Progress { get; } = progress;
        public HubCache Cache { get; } = cache;
        public string Commit { get; set; } = "";
        public long TotalSize { get; set; }
        public long TotalBytes;
    }

    private Task<RepoInfo> GetRepoInfoAsync(Session s, CancellationToken ct)
    {
        var url = new Uri($"{s.Endpoint}/api/models/{s.RepoId}/revision/{Uri.EscapeDataString(s.Options.Revision)}");
        return WithRetryAsync(s, s.Label, unreachableIsFinal: true, async watchdog =>
        {
            using var response = await SendAsync(s, HttpMethod.Get, url, 0, followCrossHost: true, watchdog.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) throw StatusError(s, response, file: null);
            byte[] body = await response.Content.ReadAsByteArrayAsync(watchdog.Token).ConfigureAwait(false);
            return ParseRepoInfo(s, body);
        }, ct);
    }

    private static RepoInfo ParseRepoInfo(Session s, byte[] body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("sha", out var sha) || sha.ValueKind != JsonValueKind.String)
                throw Malformed("no 'sha'");
            string commit = sha.GetString()!;
            if (!HubCache.IsCommitHash(commit)) throw Malformed($"'sha' is not a commit hash");
            var files = new List<string>();
            if (root.TryGetProperty("siblings", out var siblings))
            {
                if (siblings.ValueKind != JsonValueKind.Array) throw Malformed("'siblings' is not a list");
                foreach (var sibling in siblings.EnumerateArray())
                {
                    if (sibling.ValueKind != JsonValueKind.Object || !sibling.TryGetProperty("rfilename", out var name) || name.ValueKind != JsonValueKind.String)
                        throw Malformed("a sibling without 'rfilename'");
                    string path = name.GetString()!;
                    if (!IsSafeRelativePath(path)) throw Malformed($"unsafe file name '{path}'");
                    files.Add(path);
                }
            }
            return new RepoInfo(commit, files);
        }
        catch (JsonException e)
        {
            throw new HubException($"{s.Label}: the hub's repository info is not JSON ({e.Message})", HubFailure.Permanent, e);
        }

        HubException Malformed(string why) => new($"{s.Label}: unexpected repository info from the hub: {why}", HubFailure.Permanent);
    }

    private Uri ResolveUrl(Session s, string path) =>
        new($"{s.Endpoint}/{s.RepoId}/resolve/{s.Commit}/{string.Join('/', path.Split('/').Select(Uri.EscapeDataString))}");

    private Task<FileMeta> HeadAsync(Session s, string path, CancellationToken ct) =>
        WithRetryAsync(s, $"{s.Label}: {path}", unreachableIsFinal: false, async watchdog =>
        {
            // Like huggingface_hub: redirects on the same host are followed; a redirect to a CDN is not, its headers carry
            // the metadata (X-Linked-Etag, X-Linked-Size). Headers of followed redirects are kept as a fallback.
            string? hopLinked = null, hopSize = null, hopEtag = null;
            using var response = await SendAsync(s, HttpMethod.Head, ResolveUrl(s, path), 0, followCrossHost: false, watchdog.Token,
                onRedirect: hop =>
                {
                    hopLinked ??= Header(hop, "X-Linked-Etag");
                    hopSize ??= Header(hop, "X-Linked-Size");
                    hopEtag ??= Header(hop, "ETag");
                }).ConfigureAwait(false);
            int code = (int)response.StatusCode;
            if (code is < 200 or >= 400) throw StatusError(s, response, path);
            string? linked = Header(response, "X-Linked-Etag") ?? hopLinked;
            string? etag = NormalizeEtag(linked ?? Header(response, "ETag") ?? hopEtag);
            if (etag is null) throw new HubException($"{s.Label}: {path}: the hub sent no ETag", HubFailure.Permanent);
            if (!IsSafeFileName(etag)) throw new HubException($"{s.Label}: {path}: unexpected ETag '{etag}'", HubFailure.Permanent);
            long? size = ParseSize(Header(response, "X-Linked-Size") ?? hopSize) ?? (code < 300 ? response.Content.Headers.ContentLength : null);
            return new FileMeta(path, etag, size, linked is not null && Sha256Hex().IsMatch(etag));
        }, ct);

    private async Task DownloadBlobAsync(Session s, FileMeta meta, CancellationToken ct)
    {
        string blob = s.Cache.BlobPath(meta.Etag);
        var gate = _blobLocks.GetOrAdd(blob, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (HubCache.Resolves(blob)) return;
            Directory.CreateDirectory(s.Cache.BlobsFolder);
            string partial = blob + ".incomplete";
            string what = $"{s.Label}: {meta.Path}";
            long counted = 0;       // this file's bytes in s.TotalBytes
            bool corrupt = false;   // the partial file is known bad: delete it when giving up
            void Count(long delta) { counted += delta; Interlocked.Add(ref s.TotalBytes, delta); }

            await WithRetryAsync(s, what, unreachableIsFinal: false, async watchdog =>
            {
                corrupt = false;
                var file = new FileStream(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                await using (file.ConfigureAwait(false))
                {
                    long have = file.Length;
                    if (meta.Size is long announced && have > announced) { file.SetLength(0); have = 0; }
                    bool resumed = have > 0;
                    using var sha = meta.Lfs ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
                    if (sha is not null && have > 0)
                    {
                        await HashPrefixAsync(file, have, sha, ct).ConfigureAwait(false);
                        watchdog.CancelAfter(s.Options.Timeout);   // reading back gigabytes is not the server stalling
                    }
                    Count(have - counted);

                    if (!(resumed && have == meta.Size))
                    {
                        s.Progress?.Report(new HubProgress(HubProgressKind.FileStarted, meta.Path, have, meta.Size,
                            Interlocked.Read(ref s.TotalBytes), s.TotalSize));
                        using var response = await SendAsync(s, HttpMethod.Get, ResolveUrl(s, meta.Path), have, followCrossHost: true, watchdog.Token).ConfigureAwait(false);
                        if (response.StatusCode == HttpStatusCode.PartialContent)
                        {
                            if (have == 0 || response.Content.Headers.ContentRange?.From != have)
                            {
                                file.SetLength(0); Count(-counted);
                                throw new HubException($"{what}: the server answered with the wrong byte range; starting over", HubFailure.Transient);
                            }
                        }
                        else if (response.StatusCode == HttpStatusCode.OK)
                        {
                            if (have > 0)   // the server ignored Range: start over
                            {
                                file.SetLength(0); have = 0; resumed = false; Count(-counted);
                                sha?.GetHashAndReset();
                            }
                        }
                        else if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
                        {
                            file.SetLength(0); Count(-counted);
                            throw new HubException($"{what}: the server cannot resume the transfer (HTTP 416); starting over", HubFailure.Transient);
                        }
                        else throw StatusError(s, response, meta.Path);

                        file.Position = have;
                        var body = await response.Content.ReadAsStreamAsync(watchdog.Token).ConfigureAwait(false);
                        await using (body.ConfigureAwait(false))
                        {
                            byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
                            try
                            {
                                while (true)
                                {
                                    watchdog.CancelAfter(s.Options.Timeout);   // a stall, not a slow transfer, times out
                                    int n;
                                    try { n = await body.ReadAsync(buffer, watchdog.Token).ConfigureAwait(false); }
                                    catch (Exception e) when (e is IOException or HttpRequestException)
                                    {
                                        throw new HubException($"{what}: transfer broken off after {have} bytes ({e.Message})", HubFailure.Transient, e);
                                    }
                                    if (n == 0) break;
                                    await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                                    sha?.AppendData(buffer, 0, n);
                                    have += n;
                                    Count(n);
                                    if (meta.Size is long limit && have > limit)
                                    {
                                        file.SetLength(0); Count(-counted); corrupt = true;
                                        throw new HubException($"{what}: the server sent more than the announced {limit} bytes", HubFailure.Permanent);
                                    }
                                    s.Progress?.Report(new HubProgress(HubProgressKind.Bytes, meta.Path, have, meta.Size,
                                        Interlocked.Read(ref s.TotalBytes), s.TotalSize));
                                }
                            }
                            finally { ArrayPool<byte>.Shared.Return(buffer); }
                        }
                    }

                    await file.FlushAsync(ct).ConfigureAwait(false);
                    file.Flush(flushToDisk: true);
                    if (meta.Size is long expected && have < expected)
                        throw new HubException($"{what}: transfer ended after {have} of {expected} bytes", HubFailure.Transient);
                    if (sha is not null)
                    {
                        string got = Convert.ToHexStringLower(sha.GetHashAndReset());
                        if (got != meta.Etag)
                        {
                            file.SetLength(0); Count(-counted); corrupt = true;
                            // Data kept from an earlier attempt may be what is wrong: one fresh start before giving up.
                            if (resumed)
                                throw new HubException($"{what}: SHA-256 mismatch after resuming; starting over", HubFailure.Transient);
                            throw new HubException($"{what}: SHA-256 mismatch: expected {meta.Etag}, got {got}; the download was deleted", HubFailure.Permanent);
                        }
                    }
                }
                return 0;
            }, ct, onGivingUp: () => { if (corrupt) HubCache.TryDelete(partial); }).ConfigureAwait(false);

            File.Move(partial, blob, overwrite: true);
        }
        finally
        {
            gate.Release();
        }
    }

    private static async Task HashPrefixAsync(FileStream file, long length, IncrementalHash sha, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            file.Position = 0;
            long left = length;
            while (left > 0)
            {
                int n = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct).ConfigureAwait(false);
                if (n == 0) throw new IOException($"{file.Name}: shorter than its length while reading it back");
                sha.AppendData(buffer, 0, n);
                left -= n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>
    /// Sends a request, following redirects by hand: the token only ever goes to the endpoint's host (scheme, host and
    /// port), so a redirect to a CDN carries none. With <paramref name="followCrossHost"/> false a redirect to another
    /// host is returned as the answer.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(Session s, HttpMethod method, Uri url, long rangeFrom, bool followCrossHost, CancellationToken ct,
                                                      Action<HttpResponseMessage>? onRedirect = null)
    {
        for (int hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, url);
            request.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
            request.Headers.TryAddWithoutValidation("Accept-Encoding", "identity");
            if (s.Token is not null && SameHost(url, s.EndpointUri))
                request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + s.Token);
            if (rangeFrom > 0) request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(rangeFrom, null);

            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            int code = (int)response.StatusCode;
            if (code is 301 or 302 or 303 or 307 or 308 && Header(response, "Location") is { } location)
            {
                if (!Uri.TryCreate(url, location, out var next) || next.Scheme is not ("http" or "https"))
                {
                    response.Dispose();
                    throw new HubException($"{s.Label}: the hub redirected to an unusable location", HubFailure.Permanent);
                }
                if (!followCrossHost && !SameHost(next, url)) return response;
                onRedirect?.Invoke(response);
                response.Dispose();
                if (hop >= MaxRedirects) throw new HubException($"{s.Label}: more than {MaxRedirects} redirects from {url.GetLeftPart(UriPartial.Path)}", HubFailure.Permanent);
                url = next;
                continue;
            }
            return response;
        }
    }

    private static bool SameHost(Uri a, Uri b) =>
        a.Scheme == b.Scheme && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out var values) ? values.FirstOrDefault()
        : response.Content.Headers.NonValidated.TryGetValues(name, out values) ? values.FirstOrDefault()
        : null;

    private static string? NormalizeEtag(string? etag)
    {
        if (etag is null) return null;
        etag = etag.Trim();
        if (etag.StartsWith("W/", StringComparison.Ordinal)) etag = etag[2..];
        etag = etag.Trim('"');
        return etag.Length == 0 ? null : etag;
    }

    private static long? ParseSize(string? text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : null;

    private static HubException StatusError(Session s, HttpResponseMessage response, string? file)
    {
        int code = (int)response.StatusCode;
        string what = file is null ? s.Label : $"{s.Label}: {file}";
        string? errorCode = Header(response, "X-Error-Code");
        return code switch
        {
            401 => new HubException(
                $"{what}: {(errorCode == "RepoNotFound" ? "no such repository, or " : "")}authentication required or token invalid (HTTP 401): set HF_TOKEN or log in with `hf auth login`",
                HubFailure.Permanent),
            403 => new HubException($"{what}: access denied (HTTP 403): the repository may be gated or private; request access on the Hub and set HF_TOKEN", HubFailure.Permanent),
            404 when file is null => new HubException(errorCode switch
            {
                "RevisionNotFound" => $"{what}: no such revision (HTTP 404)",
                "RepoNotFound" => $"{what}: no such repository (HTTP 404)",
                _ => $"{what}: no such repository or revision (HTTP 404)",
            }, HubFailure.Permanent),
            404 => new HubException($"{what}: no such file in the repository (HTTP 404)", HubFailure.Permanent),
            408 or 429 or >= 500 => new HubException($"{what}: HTTP {code} {response.ReasonPhrase}", HubFailure.Transient),
            _ => new HubException($"{what}: HTTP {code} {response.ReasonPhrase}", HubFailure.Permanent),
        };
    }

    // ---- retries ----

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds, a permanent failure, or MaxAttempts. Each try gets a watchdog
    /// token that fires after the timeout (the attempt may push it back while data flows).
    /// </summary>
    private static async Task<T> WithRetryAsync<T>(Session s, string what, bool unreachableIsFinal, Func<CancellationTokenSource, Task<T>> attempt,
                                                   CancellationToken ct, Action? onGivingUp = null)
    {
        for (int n = 1; ; n++)
        {
            using var watchdog = CancellationTokenSource.CreateLinkedTokenSource(ct);
            watchdog.CancelAfter(s.Options.Timeout);
            HubException failure;
            try
            {
                return await attempt(watchdog).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (OperationCanceledException e)
            {
                failure = new HubException($"{what}: no answer from {s.EndpointUri.Host} within {s.Options.Timeout.TotalSeconds:0.#} s",
                                           HubFailure.Unreachable, e);
            }
            catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
            {
                failure = new HubException($"{what}: cannot reach the hub ({e.Message})", HubFailure.Unreachable, e);
            }
            catch (HttpRequestException e)
            {
                failure = new HubException($"{what}: request failed ({e.Message})", HubFailure.Transient, e);
            }
            catch (HubException e)
            {
                failure = e;
            }

            bool final = failure.Kind == HubFailure.Permanent || (failure.Kind == HubFailure.Unreachable && unreachableIsFinal) || n >= s.Options.MaxAttempts;
            if (final)
            {
                onGivingUp?.Invoke();
                if (n == 1) ExceptionDispatchInfo.Throw(failure);
                throw new HubException($"{failure.Message} (gave up after {n} attempts)", failure.Kind, failure);
            }
            s.Progress?.Report(new HubProgress(HubProgressKind.Retrying, Message: failure.Message));
            double seconds = Math.Min(30, s.Options.RetryDelay.TotalSeconds * Math.Pow(2, n - 1));
            await Task.Delay(TimeSpan.FromSeconds(seconds * (0.8 + 0.4 * Random.Shared.NextDouble())), ct).ConfigureAwait(false);
        }
    }

    /// <summary>Parallel.ForEachAsync that surfaces the failure that stopped the others rather than their cancellations.</summary>
    private static async Task ForEachAsync<T>(IEnumerable<T> items, int parallel, Func<T, CancellationToken, ValueTask> body, CancellationToken ct)
    {
        var task = Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = ct }, body);
        try
        {
            await task.ConfigureAwait(false);
        }
        catch when (task.Exception?.InnerExceptions.FirstOrDefault(e => e is not OperationCanceledException) is { } cause)
        {
            ExceptionDispatchInfo.Throw(cause);
        }
    }

    // ---- names ----

    internal static bool IsSafeRelativePath(string path) =>
        path.Length > 0 && !path.Contains('\\') && !(OperatingSystem.IsWindows() && path.Contains(':')) && !path.Any(char.IsControl)
        && !path.StartsWith('/')
        && path.Split('/').All(segment => segment.Length > 0 && segment != "." && segment != "..");

    private static bool IsSafeFileName(string name) => SafeFileName().IsMatch(name);

    [GeneratedRegex(@"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?/)?[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?$")]
    private static partial Regex RepoIdPattern();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();

    [GeneratedRegex(@"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}$")]
    private static partial Regex SafeFileName();
}
