using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Scalpel.Tests.IO.Hub;

/// <summary>
/// A stand-in for huggingface.co on 127.0.0.1 (ports chosen by the OS), speaking the Hub's URL shapes:
/// <list type="bullet">
/// <item><c>GET /api/models/{repo}/revision/{rev}</c> → <c>{"sha", "siblings": [{"rfilename"}]}</c>; 401 (X-Error-Code none) for a
/// missing or wrong token when <see cref="RequiredToken"/> is set; 404 with X-Error-Code RepoNotFound / RevisionNotFound.</item>
/// <item><c>HEAD|GET /{repo}/resolve/{rev}/{path}</c>: LFS files → 302 to the "CDN" (a second port, so another host) with
/// X-Linked-Etag (SHA-256), X-Linked-Size, X-Repo-Commit; regular files → 307 to a relative /api/resolve-cache/... URL
/// answering 200 with ETag (the git blob id). 404 EntryNotFound for unknown files.</item>
/// <item>The CDN: <c>HEAD|GET /cdn/{sha256}?name={path}</c>, with Range support (206) unless <see cref="IgnoreRange"/>.</item>
/// </list>
/// Misbehaviour per file path: <see cref="InterruptAfter"/> (close the connection after N bytes, once),
/// <see cref="StallAfter"/> (send N bytes then go silent, once), <see cref="Failures"/> (answer 503 that many times),
/// <see cref="Corrupt"/> (flip a byte of the body). Every request is recorded; after <see cref="MaxRequests"/> it
/// answers 400, so a client stuck in a loop ends. Disposing stops it.
/// </summary>
public sealed class FakeHub : IDisposable
{
    public const int MaxRequests = 500;

    public sealed class FakeFile(byte[] content, bool lfs)
    {
        public byte[] Content { get; } = content;
        public bool Lfs { get; } = lfs;
        public string Sha256 { get; } = Convert.ToHexStringLower(SHA256.HashData(content));
        /// <summary>The git blob id, which the Hub uses as the ETag of regular files.</summary>
        public string GitOid { get; } = Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {content.Length}\0"), .. content]));
        public string Etag => Lfs ? Sha256 : GitOid;
        public static FakeFile Text(string text) => new(Encoding.UTF8.GetBytes(text), lfs: false);
    }

    public sealed class Repo
    {
        public ConcurrentDictionary<string, string> Refs { get; } = new();
        public ConcurrentDictionary<string, IReadOnlyDictionary<string, FakeFile>> Commits { get; } = new();
    }

    public sealed record Request(string Method, bool Cdn, string Path, string? Range, string? Authorization);

    private readonly HttpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, FakeFile> _lfsBySha = new();
    private readonly Task _loop;
    private int _requestCount, _inFlight, _maxInFlight;

    public FakeHub()
    {
        for (int attempt = 0; ; attempt++)
        {
            HubPort = FreePort();
            CdnPort = FreePort();
            _listener = new HttpListener();
            _listener.Prefixes.Add($"http://127.0.0.1:{HubPort}/");
            _listener.Prefixes.Add($"http://127.0.0.1:{CdnPort}/");
            try { _listener.Start(); break; }
            catch (HttpListenerException) when (attempt < 10 && HubPort != CdnPort) { _listener.Close(); }
        }
        _loop = Task.Run(AcceptLoop);
    }

    public int HubPort { get; }
    public int CdnPort { get; }
    public string Endpoint => $"http://127.0.0.1:{HubPort}";

    public ConcurrentDictionary<string, Repo> Repos { get; } = new();
    public string? RequiredToken { get; set; }
    public bool IgnoreRange { get; set; }
    /// <summary>Redirect LFS files to a relative /cdn/ path on the hub's own host (as a mirror might) instead of the CDN port.</summary>
    public bool LfsOnSameHost { get; set; }
    public TimeSpan BodyDelay { get; set; }
    public ConcurrentDictionary<string, int> InterruptAfter { get; } = new();
    public ConcurrentDictionary<string, int> StallAfter { get; } = new();
    public ConcurrentDictionary<string, int> Failures { get; } = new();
    public ConcurrentDictionary<string, bool> Corrupt { get; } = new();
    /// <summary>Files listed in the repository info whose resolve URL answers 404 anyway.</summary>
    public ConcurrentDictionary<string, bool> Missing { get; } = new();
    public ConcurrentQueue<Request> Requests { get; } = new();
    /// <summary>The most file bodies that were being served at once.</summary>
    public int MaxConcurrentBodies => Volatile.Read(ref _maxInFlight);

    /// <summary>Adds a commit holding <paramref name="files"/> and points <paramref name="refs"/> at it.</summary>
    public string AddCommit(string repoId, IReadOnlyDictionary<string, FakeFile> files, params string[] refs)
    {
        var repo = Repos.GetOrAdd(repoId, _ => new Repo());
        string sha = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));
        repo.Commits[sha] = files;
        foreach (var r in refs) repo.Refs[r] = sha;
        foreach (var f in files.Values.Where(f => f.Lfs)) _lfsBySha[f.Sha256] = f;
        return sha;
    }

    /// <summary>Requests for one file's body (GETs on the CDN or the resolve-cache path).</summary>
    public List<Request> BodyRequests(string path) =>
        Requests.Where(r => r.Method == "GET" && (r.Path.StartsWith("/cdn/", StringComparison.Ordinal) ? r.Path.EndsWith("name=" + Uri.EscapeDataString(path), StringComparison.Ordinal)
                                                         : r.Path.StartsWith("/api/resolve-cache/", StringComparison.Ordinal) && r.Path.EndsWith("/" + path, StringComparison.Ordinal)))
                .ToList();

    public void Dispose()
    {
        _stop.Cancel();
        try { _listener.Close(); } catch (ObjectDisposedException) { }
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            _ = Task.Run(async () =>
            {
                try { await Handle(context); }
                catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
                {
                    try { context.Response.Abort(); } catch (Exception) { }
                }
            });
        }
    }

    private async Task Handle(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        bool cdn = request.LocalEndPoint.Port == CdnPort;
        string raw = request.RawUrl ?? "/";
        Requests.Enqueue(new Request(request.HttpMethod, cdn, raw, request.Headers["Range"], request.Headers["Authorization"]));
        if (Interlocked.Increment(ref _requestCount) > MaxRequests) { Finish(response, 400, "too many requests in one test"); return; }

        string path = raw.Split('?')[0];
        if (cdn || (LfsOnSameHost && path.StartsWith("/cdn/", StringComparison.Ordinal)))
        {
            if (path.StartsWith("/cdn/", StringComparison.Ordinal) && _lfsBySha.TryGetValue(path[5..], out var blob))
            {
                string name = Uri.UnescapeDataString(raw.Contains("?name=") ? raw[(raw.IndexOf("?name=", StringComparison.Ordinal) + 6)..] : "");
                response.Headers["ETag"] = $"\"cdn-{blob.Sha256[..16]}\"";   // a CDN has its own ETags
                await ServeBody(request, response, blob, name);
            }
            else Finish(response, 404, "no such object");
            return;
        }

        if (RequiredToken is not null && request.Headers["Authorization"] != "Bearer " + RequiredToken)
        {
            Finish(response, 401, "Invalid credentials in Authorization header");
            return;
        }

        if (request.HttpMethod == "GET" && path.StartsWith("/api/models/", StringComparison.Ordinal) && path.Contains("/revision/"))
        {
            string rest = path["/api/models/".Length..];
            int at = rest.LastIndexOf("/revision/", StringComparison.Ordinal);
            var (repo, commit) = Lookup(response, rest[..at], Uri.UnescapeDataString(rest[(at + "/revision/".Length)..]));
            if (repo is null) return;
            var files = repo.Commits[commit!];
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("id", rest[..at]);
                json.WriteString("sha", commit);
                json.WriteStartArray("siblings");
                foreach (var name in files.Keys.Order(StringComparer.Ordinal))
                {
                    json.WriteStartObject();
                    json.WriteString("rfilename", name);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            response.ContentType = "application/json";
            await WriteAll(response, 200, buffer.ToArray());
            return;
        }

        if (path.StartsWith("/api/resolve-cache/models/", StringComparison.Ordinal))
        {
            // /api/resolve-cache/models/{repo}/{commit}/{path}, repo being one or two segments: find the commit segment.
            var parts = path["/api/resolve-cache/models/".Length..].Split('/');
            int c = Array.FindIndex(parts, p => p.Length == 40);
            if (c < 1) { Finish(response, 404, "bad resolve-cache path"); return; }
            var (repo, commit) = Lookup(response, string.Join('/', parts[..c]), parts[c]);
            if (repo is null) return;
            string file = string.Join('/', parts[(c + 1)..].Select(Uri.UnescapeDataString));
            if (!repo.Commits[commit!].TryGetValue(file, out var entry)) { Finish(response, 404, "Entry not found", "EntryNotFound"); return; }
            response.Headers["ETag"] = $"\"{entry.GitOid}\"";
            response.Headers["X-Repo-Commit"] = commit;
            await ServeBody(request, response, entry, file);
            return;
        }

        int resolve = path.IndexOf("/resolve/", StringComparison.Ordinal);
        if (resolve > 0 && request.HttpMethod is "GET" or "HEAD")
        {
            string repoId = path[1..resolve];
            var after = path[(resolve + "/resolve/".Length)..].Split('/');
            var (repo, commit) = Lookup(response, repoId, Uri.UnescapeDataString(after[0]));
            if (repo is null) return;
            string file = string.Join('/', after[1..].Select(Uri.UnescapeDataString));
            if (!repo.Commits[commit!].TryGetValue(file, out var entry) || Missing.ContainsKey(file))
            {
                Finish(response, 404, "Entry not found", "EntryNotFound");
                return;
            }
            response.Headers["X-Repo-Commit"] = commit;
            if (entry.Lfs)
            {
                response.Headers["X-Linked-Etag"] = $"\"{entry.Sha256}\"";
                response.Headers["X-Linked-Size"] = entry.Content.Length.ToString();
                response.Headers["ETag"] = $"\"{entry.GitOid}\"";
                response.Headers["Location"] = (LfsOnSameHost ? "" : $"http://127.0.0.1:{CdnPort}") + $"/cdn/{entry.Sha256}?name={Uri.EscapeDataString(file)}";
                Finish(response, 302, null);
            }
            else
            {
                response.Headers["ETag"] = $"\"{entry.GitOid}\"";
                response.Headers["Location"] = $"/api/resolve-cache/models/{repoId}/{commit}/{string.Join('/', after[1..])}";
                Finish(response, 307, null);
            }
            return;
        }

        Finish(response, 404, "no such route");
    }

    private (Repo? Repo, string? Commit) Lookup(HttpListenerResponse response, string repoId, string revision)
    {
        if (!Repos.TryGetValue(repoId, out var repo)) { Finish(response, 404, "Repository not found", "RepoNotFound"); return (null, null); }
        string? commit = repo.Commits.ContainsKey(revision) ? revision : repo.Refs.GetValueOrDefault(revision);
        if (commit is null) { Finish(response, 404, $"Invalid rev id: {revision}", "RevisionNotFound"); return (null, null); }
        return (repo, commit);
    }

    private async Task ServeBody(HttpListenerRequest request, HttpListenerResponse response, FakeFile file, string name)
    {
        if (request.HttpMethod == "GET" && Failures.TryGetValue(name, out int left) && left > 0)
        {
            Failures[name] = left - 1;
            Finish(response, 503, "Service Unavailable");
            return;
        }
        byte[] content = file.Content;
        if (Corrupt.ContainsKey(name))
        {
            content = (byte[])content.Clone();
            content[content.Length / 2] ^= 0x5A;
        }
        long start = 0;
        string? range = request.Headers["Range"];
        if (range is not null && !IgnoreRange)
        {
            if (!range.StartsWith("bytes=", StringComparison.Ordinal) || !range.EndsWith('-') || !long.TryParse(range[6..^1], out start))
            {
                Finish(response, 400, "only 'bytes=N-' ranges here");
                return;
            }
            if (start >= content.Length)
            {
                response.Headers["Content-Range"] = $"bytes */{content.Length}";
                Finish(response, 416, null);
                return;
            }
            response.StatusCode = 206;
            response.Headers["Content-Range"] = $"bytes {start}-{content.Length - 1}/{content.Length}";
        }
        else response.StatusCode = 200;
        response.ContentLength64 = content.Length - start;
        response.ContentType = "application/octet-stream";
        if (request.HttpMethod == "HEAD") { response.Close(); return; }

        int now = Interlocked.Increment(ref _inFlight);
        try
        {
            int seen;
            while (now > (seen = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, seen) != seen) { }
            if (BodyDelay > TimeSpan.Zero) await Task.Delay(BodyDelay, _stop.Token);
            var output = response.OutputStream;
            if (InterruptAfter.TryRemove(name, out int cut))
            {
                await output.WriteAsync(content.AsMemory((int)start, Math.Min(cut, content.Length - (int)start)), _stop.Token);
                await output.FlushAsync(_stop.Token);
                response.Abort();
                return;
            }
            if (StallAfter.TryRemove(name, out int stall))
            {
                await output.WriteAsync(content.AsMemory((int)start, Math.Min(stall, content.Length - (int)start)), _stop.Token);
                await output.FlushAsync(_stop.Token);
                try { await Task.Delay(Timeout.Infinite, _stop.Token); }
                catch (OperationCanceledException) { }
                response.Abort();
                return;
            }
            await output.WriteAsync(content.AsMemory((int)start), _stop.Token);
            response.Close();
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private static void Finish(HttpListenerResponse response, int status, string? error, string? errorCode = null)
    {
        response.StatusCode = status;
        if (errorCode is not null) response.Headers["X-Error-Code"] = errorCode;
        if (error is null)
        {
            response.ContentLength64 = 0;
            response.Close();
            return;
        }
        response.ContentType = "application/json";
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("error", error);
            json.WriteEndObject();
        }
        byte[] body = buffer.ToArray();
        response.ContentLength64 = body.Length;
        response.OutputStream.Write(body);
        response.Close();
    }

    private static async Task WriteAll(HttpListenerResponse response, int status, byte[] body)
    {
        response.StatusCode = status;
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body);
        response.Close();
    }
}
