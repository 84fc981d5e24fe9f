using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Training;

namespace Scalpel.Bench;

/// <summary>
/// Load on <c>scalpel serve</c> (a separate process, the real command) from streaming chat clients on loopback:
/// errors, dropped streams, time to first token (p50/p99), total tokens/s; then decode throughput with 16 concurrent
/// clients against one. Each client sends one streaming request after another until the time is up; a stream counts as
/// dropped when it ends without a finish reason and "data: [DONE]". See bench/README.md.
/// </summary>
public static class ServeLoadBench
{
    private const int MaxClients = 1024, MaxSeconds = 600;

    private sealed record Options(string Scalpel, string Model, int Clients, int Seconds, int RatioSeconds, int MaxTokens, int MaxBatch, int Context);

    /// <summary>One request's outcome: time to first content (null when none came), completion tokens, what went wrong.</summary>
    private sealed record Outcome(double? TtftMs, int Tokens, string? Error, bool Dropped);

    private sealed record Phase(int Clients, double Seconds, List<Outcome> Outcomes)
    {
        public int Tokens => Outcomes.Sum(o => o.Tokens);
        public double TokensPerSecond => Tokens / Seconds;
    }

    public static int Run(string[] args)
    {
        if (args is not ["run", var scalpel, .. var rest])
        {
            Console.Error.WriteLine("usage: serve-load run SCALPEL_COMMAND [--model tiny|smollm2-135m|DIR] [--clients N] [--seconds T] [--ratio-seconds T]\n" +
                                    "                      [--max-tokens N] [--max-batch N] [--context N]");
            return 2;
        }
        string model = Value(rest, "--model") switch
        {
            null or "tiny" => PrepareTiny(),
            "smollm2-135m" => PrepareSmolLM2(),
            var dir => dir,
        };
        var options = new Options(scalpel, model, Math.Clamp(Int(rest, "--clients", 64), 1, MaxClients),
            Math.Clamp(Int(rest, "--seconds", 60), 1, MaxSeconds), Math.Clamp(Int(rest, "--ratio-seconds", 20), 1, MaxSeconds),
            Int(rest, "--max-tokens", 128), Int(rest, "--max-batch", 16), Int(rest, "--context", 1024));
        return Measure(options).GetAwaiter().GetResult();
    }

    private static string? Value(string[] args, string name)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }

    private static int Int(string[] args, string name, int fallback) => Value(args, name) is { } v ? int.Parse(v) : fallback;

    private static string BenchDir(string name) =>
        Path.Combine(Environment.GetEnvironmentVariable("SCALPEL_BENCH_DIR") ?? Path.GetTempPath(), "scalpel-bench-serve", name);

    /// <summary>
    /// Random F32 weights in SmolLM2-135M's shapes (<see cref="LoraBench.SmolLM2Shapes"/>), written once, with the tiny
    /// model's tokenizer and chat template whose vocabulary is padded to the model's 49152 ids (" w123" and so on: never
    /// produced by encoding, but every sampled id decodes to some text, so each token shows up in the stream).
    /// </summary>
    private static string PrepareSmolLM2()
    {
        string dir = BenchDir("smollm2-135m");
        if (File.Exists(Path.Combine(dir, "tokenizer.json"))) return dir;
        string tiny = PrepareTiny();
        var spec = LoraBench.SmolLM2Shapes with { MaxPositions = 2048 };
        Console.Error.WriteLine($"writing {dir} (random F32 weights)");
        RandomCheckpoint.Write(spec, dir, seed: 1, storeAs: DType.F32);
        var tokenizer = JsonNode.Parse(File.ReadAllText(Path.Combine(tiny, "tokenizer.json")))!;
        var vocab = tokenizer["model"]!["vocab"]!.AsObject();
        for (int id = vocab.Count; id < spec.VocabSize; id++) vocab["\u0120w" + id] = id;
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), File.ReadAllText(Path.Combine(tiny, "tokenizer_config.json")));
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString());
        return dir;
    }

    /// <summary>The pipeline check's tiny model (byte-level BPE, ChatML, random weights) with 2048 positions, written once.</summary>
    private static string PrepareTiny()
    {
        string dir = BenchDir("tiny");
        if (File.Exists(Path.Combine(dir, "model.safetensors"))) return dir;
        PipelineCheck.WriteTinyModel(dir, seed: 1);
        string config = Path.Combine(dir, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(config))!;
        json["max_position_embeddings"] = 2048;
        File.WriteAllText(config, json.ToJsonString());
        return dir;
    }

    private static async Task<int> Measure(Options o)
    {
        int queue = Math.Max(o.Clients, 16);
        var psi = new ProcessStartInfo(o.Scalpel)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "serve", "--model", o.Model, "--host", "127.0.0.1", "--port", "0", "--max-batch", o.MaxBatch.ToString(),
                     "--max-queue", queue.ToString(), "--context", o.Context.ToString(), "--data", Path.Combine(Path.GetTempPath(), "scalpel-bench-serve-data-" + Environment.ProcessId) })
            psi.ArgumentList.Add(a);
        using var server = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {o.Scalpel}");
        var stderr = new StringBuilder();
        server.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        server.BeginErrorReadLine();
        try
        {
            Uri? address = null;
            while (await server.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("listening on ", StringComparison.Ordinal))
                {
                    address = new Uri(line["listening on ".Length..]);
                    break;
                }
            }
            if (address is null) throw new InvalidOperationException($"scalpel serve did not start:\n{stderr}");
            if (!IPAddress.IsLoopback(IPAddress.Parse(address.Host))) throw new InvalidOperationException($"refusing to load a non-loopback address {address}");
            _ = server.StandardOutput.ReadToEndAsync();

            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = MaxClients, PooledConnectionLifetime = TimeSpan.FromMinutes(30) })
            {
                BaseAddress = address, Timeout = TimeSpan.FromSeconds(MaxSeconds),
            };
            string modelId = Path.GetFileName(Path.GetFullPath(o.Model).TrimEnd('/'));
            Console.Error.WriteLine($"scalpel serve on {address} ({o.Model}); warming up");
            await RunPhase(http, modelId, 2, 2, o.MaxTokens);

            Console.Error.WriteLine($"load: {o.Clients} streaming clients for {o.Seconds} s");
            var load = await RunPhase(http, modelId, o.Clients, o.Seconds, o.MaxTokens);
            Console.Error.WriteLine($"decode throughput: 1 client, then 16, {o.RatioSeconds} s each");
            var one = await RunPhase(http, modelId, 1, o.RatioSeconds, o.MaxTokens);
            var sixteen = await RunPhase(http, modelId, 16, o.RatioSeconds, o.MaxTokens);

            var ttft = load.Outcomes.Where(x => x.TtftMs is not null).Select(x => x.TtftMs!.Value).Order().ToArray();
            int errors = load.Outcomes.Count(x => x.Error is not null), dropped = load.Outcomes.Count(x => x.Dropped);
            Console.WriteLine($"{load.Clients} clients, {load.Seconds:F1} s: {load.Outcomes.Count} requests, {errors} errors, {dropped} dropped streams, " +
                              $"{load.Tokens} tokens, {load.TokensPerSecond:F1} tokens/s");
            foreach (var group in load.Outcomes.Where(x => x.Error is not null).GroupBy(x => x.Error).Take(5))
                Console.WriteLine($"  error x{group.Count()}: {group.Key}");
            Console.WriteLine($"time to first token: p50 {Percentile(ttft, 0.50):F0} ms, p99 {Percentile(ttft, 0.99):F0} ms, max {(ttft.Length > 0 ? ttft[^1] : double.NaN):F0} ms");
            foreach (var p in new[] { one, sixteen })
                Console.WriteLine($"{p.Clients,2} client(s): {p.Outcomes.Count} requests, {p.Tokens} tokens in {p.Seconds:F1} s = {p.TokensPerSecond:F1} tokens/s " +
                                  $"({p.Outcomes.Count(x => x.Error is not null || x.Dropped)} failed)");
            Console.WriteLine($"max tokens {o.MaxTokens} per request, --max-batch {o.MaxBatch}; load average {LoadAverage()} on {Environment.ProcessorCount} cores");
            double ratio = sixteen.TokensPerSecond / one.TokensPerSecond;
            Console.WriteLine($"serve-load clients={o.Clients} errors={errors} dropped={dropped} ttft_p50_ms={Percentile(ttft, 0.5):F0} " +
                              $"ttft_p99_ms={Percentile(ttft, 0.99):F0} tokens_per_s={load.TokensPerSecond:F1} decode_16_vs_1={ratio:F2}");
            return errors + dropped + one.Outcomes.Count(x => x.Error is not null) + sixteen.Outcomes.Count(x => x.Error is not null) == 0 ? 0 : 1;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
                await server.WaitForExitAsync();
            }
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "?";
        }
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    /// <summary><paramref name="clients"/> clients, each sending requests one after another until <paramref name="seconds"/> have passed; the
    /// phase lasts until the last request in flight ends.</summary>
    private static async Task<Phase> RunPhase(HttpClient http, string model, int clients, double seconds, int maxTokens)
    {
        var outcomes = new List<Outcome>();
        var watch = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async client =>
        {
            int n = 0;
            while (watch.Elapsed < deadline)
            {
                var outcome = await OneStream(http, model, maxTokens, seed: client * 100_000 + n++);
                lock (outcomes) outcomes.Add(outcome);
            }
        }));
        return new Phase(clients, watch.Elapsed.TotalSeconds, outcomes);
    }

    private static async Task<Outcome> OneStream(HttpClient http, string model, int maxTokens, int seed)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["messages"] = new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = $"talk about request {seed}" }),
            ["max_tokens"] = maxTokens, ["temperature"] = 1.0, ["seed"] = seed,
            ["stream"] = true, ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        long start = Stopwatch.GetTimestamp();
        double? ttft = null;
        int tokens = 0;
        bool finished = false, done = false, streaming = false;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (response.StatusCode != HttpStatusCode.OK)
                return new Outcome(null, 0, $"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}", false);
            streaming = true;
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                if (line == "data: [DONE]")
                {
                    done = true;
                    break;
                }
                // Content pieces are most lines: look for non-empty content without parsing; parse only the others.
                if (line.Contains("\"content\":\"", StringComparison.Ordinal) && !line.Contains("\"finish_reason\":\"", StringComparison.Ordinal)
                    && !line.Contains("\"usage\":{", StringComparison.Ordinal))
                {
                    if (ttft is null && !line.Contains("\"content\":\"\"", StringComparison.Ordinal))
                        ttft = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    continue;
                }
                using var chunk = JsonDocument.Parse(line.AsMemory(6));
                var root = chunk.RootElement;
                if (root.TryGetProperty("error", out var error)) return new Outcome(ttft, tokens, "stream error: " + error.GetRawText(), false);
                if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                    tokens = usage.GetProperty("completion_tokens").GetInt32();
                foreach (var choice in root.GetProperty("choices").EnumerateArray())
                {
                    if (ttft is null && choice.GetProperty("delta").TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 })
                        ttft = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    if (choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String) finished = true;
                }
            }
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException or TaskCanceledException)
        {
            // Before the answer started it is an error; after, a dropped stream.
            return streaming ? new Outcome(ttft, tokens, null, Dropped: true) : new Outcome(null, 0, $"{e.GetType().Name}: {e.Message}", false);
        }
        return new Outcome(ttft, tokens, null, Dropped: !(finished && done));
    }
}
