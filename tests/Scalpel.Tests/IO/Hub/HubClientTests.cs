using System.Security.Cryptography;
using Scalpel.IO.Hub;
using Xunit;

namespace Scalpel.Tests.IO.Hub;

public class HubClientTests
{
    [Fact]
    public async Task FullDownloadLaysOutTheHubCache()
    {
        using var bed = new HubTestBed();
        var log = new ProgressLog();
        string snapshot = await bed.Pull(progress: log);

        Assert.Equal(bed.Snapshot(bed.Main), snapshot);
        Assert.Equal(bed.Main, File.ReadAllText(Path.Combine(bed.RepoFolder, "refs", "main")));
        foreach (var (path, file) in bed.MainFiles)
        {
            string entry = Path.Combine(snapshot, path);
            Assert.Equal(file.Content, File.ReadAllBytes(entry));
            Assert.Equal(file.Content, File.ReadAllBytes(bed.Blob(file)));
            if (!OperatingSystem.IsWindows())
            {
                string up = string.Concat(Enumerable.Repeat("../", 2 + path.Count(c => c == '/')));
                Assert.Equal(up + "blobs/" + file.Etag, new FileInfo(entry).LinkTarget);
            }
        }
        // LFS blobs are named by SHA-256, regular files by git blob id; nothing half-written is left.
        Assert.Equal(bed.MainFiles["model.safetensors"].Sha256, bed.MainFiles["model.safetensors"].Etag);
        Assert.Empty(Directory.GetFiles(Path.Combine(bed.RepoFolder, "blobs"), "*.incomplete"));
        // The weights came from the "CDN" (the other host), the small files through the relative resolve-cache redirect.
        Assert.Single(bed.Hub.Requests, r => r.Cdn && r.Method == "GET");
        Assert.Single(bed.Hub.BodyRequests("config.json"));
        Assert.All(bed.Hub.Requests, r => Assert.Null(r.Authorization));
        // Sizes come from the HEAD answers (X-Linked-Size for LFS, Content-Length otherwise) and are reported.
        var done = log.Events.Where(e => e.Kind == HubProgressKind.FileDone).ToDictionary(e => e.File!);
        Assert.Equal(bed.MainFiles.Keys.Order(), done.Keys.Order());
        Assert.All(bed.MainFiles, f => Assert.Equal(f.Value.Content.Length, done[f.Key].FileSize));
        var planned = Assert.Single(log.Events, e => e.Kind == HubProgressKind.Planned);
        Assert.Equal(bed.MainFiles.Values.Sum(f => (long)f.Content.Length), planned.TotalSize);
    }

    [Fact]
    public async Task CopiesInsteadOfSymlinksWhenAskedTo()
    {
        using var bed = new HubTestBed();
        string snapshot = await bed.Pull(bed.Options(symlinks: false));
        foreach (var (path, file) in bed.MainFiles)
        {
            var entry = new FileInfo(Path.Combine(snapshot, path));
            Assert.Null(entry.LinkTarget);
            Assert.Equal(file.Content, File.ReadAllBytes(entry.FullName));
        }
    }

    [Fact]
    public async Task IncludePatternsSelectTheFiles()
    {
        using var bed = new HubTestBed();
        string snapshot = await bed.Pull(bed.Options(include: ["*.json", "tokenizer*"]));
        var got = Directory.GetFiles(snapshot, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(snapshot, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToArray();
        // fnmatch's '*' crosses '/', so *.json takes original/params.json too.
        Assert.Equal(["config.json", "generation_config.json", "original/params.json", "tokenizer.json", "tokenizer_config.json"], got);
        Assert.DoesNotContain(bed.Hub.Requests, r => r.Path.Contains("model.safetensors"));

        string only = await bed.Pull(bed.Options(include: ["original/"]));
        Assert.True(File.Exists(Path.Combine(only, "original", "params.json")));

        var e = await Assert.ThrowsAsync<HubException>(() => bed.Pull(bed.Options(include: ["*.gguf"])));
        Assert.Contains("*.gguf", e.Message);
    }

    [Theory]
    [InlineData("*.safetensors", "model.safetensors", true)]
    [InlineData("*.safetensors", "sub/model.safetensors", true)]
    [InlineData("tokenizer*", "tokenizer_config.json", true)]
    [InlineData("tokenizer*", "sub/tokenizer.json", false)]
    [InlineData("config.json", "sub/config.json", false)]
    [InlineData("config.json", "config.jsonx", false)]
    [InlineData("model-0000?-of-00002.safetensors", "model-00001-of-00002.safetensors", true)]
    [InlineData("[!c]*.json", "config.json", false)]
    [InlineData("[!c]*.json", "generation_config.json", true)]
    [InlineData("[cg]*.json", "generation_config.json", true)]
    [InlineData("*.JSON", "config.json", false)]
    [InlineData("a[", "a[", true)]
    [InlineData("a.b", "aXb", false)]
    [InlineData("original/", "original/params.json", true)]
    [InlineData("original/", "original.json", false)]
    public void PatternsFollowFnmatch(string pattern, string path, bool matches) =>
        Assert.Equal(matches, new HubPatterns([pattern]).Matches(path));

    [Fact]
    public void NoPatternsSelectEverythingAndCommasSplit()
    {
        Assert.True(new HubPatterns(null).Matches("anything/at/all"));
        var p = HubPatterns.Parse("*.safetensors, config.json");
        Assert.True(p.Matches("config.json"));
        Assert.True(p.Matches("model.safetensors"));
        Assert.False(p.Matches("model.bin"));
    }

    [Fact]
    public async Task RevisionsByBranchTagAndCommit()
    {
        using var bed = new HubTestBed();
        string byBranch = await bed.Pull(bed.Options(revision: "v1"));
        Assert.Equal(bed.Snapshot(bed.V1), byBranch);
        Assert.Contains("\"hidden_size\": 32", HubTestBed.Read(Path.Combine(byBranch, "config.json")));
        Assert.Equal(bed.V1, File.ReadAllText(Path.Combine(bed.RepoFolder, "refs", "v1")));

        Assert.Equal(byBranch, await bed.Pull(bed.Options(revision: "v1.0")));
        Assert.Equal(bed.V1, File.ReadAllText(Path.Combine(bed.RepoFolder, "refs", "v1.0")));
        Assert.Equal(byBranch, await bed.Pull(bed.Options(revision: bed.V1)));
        Assert.False(File.Exists(Path.Combine(bed.RepoFolder, "refs", bed.V1)));   // a commit needs no ref

        // main shares the weights and the tokenizer with v1: they are linked, not fetched again.
        string main = await bed.Pull();
        Assert.Contains("\"hidden_size\": 64", HubTestBed.Read(Path.Combine(main, "config.json")));
        Assert.Single(bed.Hub.BodyRequests("model.safetensors"));
        Assert.Single(bed.Hub.BodyRequests("tokenizer.json"));
        Assert.Equal(2, bed.Hub.BodyRequests("config.json").Count);
    }

    [Fact]
    public async Task ANewCommitFetchesOnlyWhatChanged()
    {
        using var bed = new HubTestBed();
        string first = await bed.Pull();
        int before = bed.Hub.Requests.Count;
        Assert.Equal(first, await bed.Pull());
        Assert.Single(bed.Hub.Requests.Skip(before));   // the snapshot is complete: only the revision lookup

        var changed = new Dictionary<string, FakeHub.FakeFile>(bed.MainFiles)
        {
            ["config.json"] = FakeHub.FakeFile.Text("""{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 128}"""),
        };
        string next = bed.Hub.AddCommit(HubTestBed.RepoId, changed, "main");
        string second = await bed.Pull();
        Assert.Equal(bed.Snapshot(next), second);
        Assert.Equal(next, File.ReadAllText(Path.Combine(bed.RepoFolder, "refs", "main")));
        Assert.Contains("128", HubTestBed.Read(Path.Combine(second, "config.json")));
        Assert.Contains("64", HubTestBed.Read(Path.Combine(first, "config.json")));   // the old snapshot is untouched
        Assert.Single(bed.Hub.BodyRequests("model.safetensors"));
        Assert.Equal(2, bed.Hub.BodyRequests("config.json").Count);
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(second, "model.safetensors")));
    }

    [Fact]
    public async Task TheTokenGoesToTheHubButNotToTheCdn()
    {
        using var bed = new HubTestBed();
        bed.Hub.RequiredToken = "hf_secret_token";
        await bed.Pull(bed.Options(token: "hf_secret_token"));
        var hub = bed.Hub.Requests.Where(r => !r.Cdn).ToList();
        var cdn = bed.Hub.Requests.Where(r => r.Cdn).ToList();
        Assert.NotEmpty(cdn);
        Assert.All(hub, r => Assert.Equal("Bearer hf_secret_token", r.Authorization));
        Assert.All(cdn, r => Assert.Null(r.Authorization));
    }

    [Fact]
    public async Task AnLfsRedirectOnTheSameHostKeepsItsMetadataAndTheToken()
    {
        using var bed = new HubTestBed();
        bed.Hub.LfsOnSameHost = true;
        bed.Hub.RequiredToken = "hf_same_host";
        var log = new ProgressLog();
        string snapshot = await bed.Pull(bed.Options(token: "hf_same_host"), progress: log);
        var weights = bed.MainFiles["model.safetensors"];
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        Assert.True(File.Exists(bed.Blob(weights)));   // named by the X-Linked-Etag of the redirect, not the final answer's ETag
        Assert.DoesNotContain(bed.Hub.Requests, r => r.Cdn);
        Assert.All(bed.Hub.Requests, r => Assert.Equal("Bearer hf_same_host", r.Authorization));
        Assert.Equal(HubTestBed.WeightBytes, log.Events.Single(e => e is { Kind: HubProgressKind.FileDone, File: "model.safetensors" }).FileSize);
    }

    [Fact]
    public async Task TheTokenComesFromHfTokenOrTheTokenFile()
    {
        using var bed = new HubTestBed();
        bed.Hub.RequiredToken = "hf_from_env";
        await bed.Pull(env: bed.Env(("HF_TOKEN", "hf_from_env")));

        bed.Hub.RequiredToken = "hf_from_file";
        string home = Path.Combine(bed.Dir.Path, "hfhome");
        Directory.CreateDirectory(home);
        File.WriteAllText(Path.Combine(home, "token"), "hf_from_file\n");
        await bed.Pull(bed.Options(revision: "v1"), env: bed.Env(("HF_HOME", home)));
    }

    [Fact]
    public async Task AMissingOrWrongTokenIsA401NamingTheRepo()
    {
        using var bed = new HubTestBed();
        bed.Hub.RequiredToken = "hf_right";
        var missing = await Assert.ThrowsAsync<HubException>(() => bed.Pull());
        Assert.Contains(HubTestBed.RepoId, missing.Message);
        Assert.Contains("authentication required", missing.Message);
        Assert.Contains("HF_TOKEN", missing.Message);

        var wrong = await Assert.ThrowsAsync<HubException>(() => bed.Pull(bed.Options(token: "hf_wrong_secret")));
        Assert.Contains("token invalid", wrong.Message);
        Assert.DoesNotContain("hf_wrong_secret", wrong.Message);
        Assert.False(Directory.Exists(Path.Combine(bed.RepoFolder, "snapshots")));
    }

    [Fact]
    public async Task UnknownRepositoryRevisionOrFileIsA404NamingIt()
    {
        using var bed = new HubTestBed();
        using var client = new HubClient(environment: bed.Env());
        var repo = await Assert.ThrowsAsync<HubException>(() => client.DownloadSnapshotAsync("acme/no-such-model", bed.Options(), null));
        Assert.Contains("acme/no-such-model", repo.Message);
        Assert.Contains("no such repository", repo.Message);

        var revision = await Assert.ThrowsAsync<HubException>(() => bed.Pull(bed.Options(revision: "no-such-branch")));
        Assert.Contains(HubTestBed.RepoId, revision.Message);
        Assert.Contains("no-such-branch", revision.Message);
        Assert.Contains("no such revision", revision.Message);

        bed.Hub.Missing["tokenizer_config.json"] = true;
        var file = await Assert.ThrowsAsync<HubException>(() => bed.Pull());
        Assert.Contains("tokenizer_config.json", file.Message);
        Assert.Contains("404", file.Message);
    }

    [Fact]
    public async Task AnInterruptedTransferResumesWithRange()
    {
        using var bed = new HubTestBed();
        bed.Hub.InterruptAfter["model.safetensors"] = 300_000;
        var log = new ProgressLog();
        string snapshot = await bed.Pull(progress: log);

        var gets = bed.Hub.BodyRequests("model.safetensors");
        Assert.Equal(2, gets.Count);
        Assert.Null(gets[0].Range);
        Assert.Matches(@"^bytes=\d+-$", gets[1].Range);
        long from = long.Parse(gets[1].Range!["bytes=".Length..^1]);
        Assert.InRange(from, 1, 300_000);
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        Assert.Contains(log.Events, e => e.Kind == HubProgressKind.Retrying && e.Message!.Contains("model.safetensors"));
        var last = log.Events.Last(e => e.Kind == HubProgressKind.FileDone && e.File == "model.safetensors");
        Assert.Equal(HubTestBed.WeightBytes, last.FileBytes);
    }

    [Fact]
    public async Task APartialFileFromAnEarlierRunIsResumed()
    {
        using var bed = new HubTestBed();
        var weights = bed.MainFiles["model.safetensors"];
        Directory.CreateDirectory(Path.Combine(bed.RepoFolder, "blobs"));
        File.WriteAllBytes(bed.Blob(weights) + ".incomplete", bed.Weights[..500_000]);

        string snapshot = await bed.Pull();
        var get = Assert.Single(bed.Hub.BodyRequests("model.safetensors"));
        Assert.Equal("bytes=500000-", get.Range);
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        Assert.False(File.Exists(bed.Blob(weights) + ".incomplete"));
    }

    [Fact]
    public async Task BadBytesKeptFromAnEarlierRunAreCaughtAndFetchedAgain()
    {
        using var bed = new HubTestBed();
        var weights = bed.MainFiles["model.safetensors"];
        Directory.CreateDirectory(Path.Combine(bed.RepoFolder, "blobs"));
        File.WriteAllBytes(bed.Blob(weights) + ".incomplete", new byte[400_000]);   // resumable, but wrong

        string snapshot = await bed.Pull();
        var gets = bed.Hub.BodyRequests("model.safetensors");
        Assert.Equal(["bytes=400000-", null], gets.Select(g => g.Range));   // the checksum fails once, then a fresh start
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
    }

    [Fact]
    public async Task ACompletePartialFileNeedsNoTransfer()
    {
        using var bed = new HubTestBed();
        var weights = bed.MainFiles["model.safetensors"];
        Directory.CreateDirectory(Path.Combine(bed.RepoFolder, "blobs"));
        File.WriteAllBytes(bed.Blob(weights) + ".incomplete", bed.Weights);   // killed between the last byte and the rename

        string snapshot = await bed.Pull();
        Assert.Empty(bed.Hub.BodyRequests("model.safetensors"));
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
    }

    [Fact]
    public async Task PullRequestRefsAndAwkwardFileNames()
    {
        using var bed = new HubTestBed();
        string pr = bed.Hub.AddCommit(HubTestBed.RepoId, new Dictionary<string, FakeHub.FakeFile>
        {
            ["config.json"] = FakeHub.FakeFile.Text("{}"),
            ["sub dir/naïve #1.txt"] = FakeHub.FakeFile.Text("x"),
        }, "refs/pr/1");
        string snapshot = await bed.Pull(bed.Options(revision: "refs/pr/1"));
        Assert.Equal(bed.Snapshot(pr), snapshot);
        Assert.Equal(pr, File.ReadAllText(Path.Combine(bed.RepoFolder, "refs", "refs", "pr", "1")));   // as huggingface_hub stores it
        Assert.Equal("x", File.ReadAllText(Path.Combine(snapshot, "sub dir", "naïve #1.txt")));
        Assert.Contains(bed.Hub.Requests, r => r.Path.Contains("/revision/refs%2Fpr%2F1"));
    }

    [Fact]
    public async Task AServerIgnoringRangeMakesItStartOver()
    {
        using var bed = new HubTestBed();
        bed.Hub.IgnoreRange = true;
        var weights = bed.MainFiles["model.safetensors"];
        Directory.CreateDirectory(Path.Combine(bed.RepoFolder, "blobs"));
        File.WriteAllBytes(bed.Blob(weights) + ".incomplete", new byte[400_000]);   // garbage: must not survive

        string snapshot = await bed.Pull();
        Assert.Equal("bytes=400000-", Assert.Single(bed.Hub.BodyRequests("model.safetensors")).Range);
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
    }

    [Fact]
    public async Task ACorruptLfsBodyIsRejectedAndLeavesNothing()
    {
        using var bed = new HubTestBed();
        bed.Hub.Corrupt["model.safetensors"] = true;
        var e = await Assert.ThrowsAsync<HubException>(() => bed.Pull());
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("SHA-256 mismatch", e.Message);
        Assert.Contains(bed.MainFiles["model.safetensors"].Sha256, e.Message);

        var weights = bed.MainFiles["model.safetensors"];
        Assert.False(File.Exists(Path.Combine(bed.Snapshot(bed.Main), "model.safetensors")));
        Assert.False(File.Exists(bed.Blob(weights)));
        Assert.False(File.Exists(bed.Blob(weights) + ".incomplete"));
        Assert.Single(bed.Hub.BodyRequests("model.safetensors"));   // a fresh transfer that fails its checksum is not retried

        // Not complete, so not served offline either.
        var offline = await Assert.ThrowsAsync<HubException>(() => bed.Pull(bed.Options(offline: true)));
        Assert.Contains("lacks", offline.Message);
    }

    [Fact]
    public async Task TransientFailuresAreRetried()
    {
        using var bed = new HubTestBed();
        bed.Hub.Failures["config.json"] = 2;
        bed.Hub.Failures["model.safetensors"] = 1;
        var log = new ProgressLog();
        string snapshot = await bed.Pull(progress: log);
        Assert.Equal(3, bed.Hub.BodyRequests("config.json").Count);
        Assert.Equal(2, bed.Hub.BodyRequests("model.safetensors").Count);
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        Assert.Contains(log.Events, p => p.Kind == HubProgressKind.Retrying && p.Message!.Contains("503"));
    }

    [Fact]
    public async Task PersistentFailuresGiveUpNamingTheFile()
    {
        using var bed = new HubTestBed();
        bed.Hub.Failures["tokenizer.json"] = 100;
        var e = await Assert.ThrowsAsync<HubException>(() => bed.Pull(bed.Options(attempts: 3)));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("503", e.Message);
        Assert.Contains("3 attempts", e.Message);
        Assert.Equal(3, bed.Hub.BodyRequests("tokenizer.json").Count);
    }

    [Fact]
    public async Task AStalledTransferTimesOutAndResumes()
    {
        using var bed = new HubTestBed();
        bed.Hub.StallAfter["model.safetensors"] = 200_000;
        string snapshot = await bed.Pull(bed.Options(timeoutSeconds: 2));
        var gets = bed.Hub.BodyRequests("model.safetensors");
        Assert.True(gets.Count >= 2);
        Assert.Null(gets[0].Range);
        Assert.All(gets.Skip(1), g => Assert.NotNull(g.Range));   // every retry resumes
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
    }

    [Fact]
    public async Task CancellingStopsAndKeepsThePartialFileForNextTime()
    {
        using var bed = new HubTestBed();
        bed.Hub.StallAfter["model.safetensors"] = 200_000;
        using var cts = new CancellationTokenSource();
        var log = new ProgressLog
        {
            OnReport = p => { if (p is { Kind: HubProgressKind.Bytes, File: "model.safetensors", FileBytes: > 0 }) cts.Cancel(); },
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => bed.Pull(bed.Options(timeoutSeconds: 30), progress: log, ct: cts.Token));
        string partial = bed.Blob(bed.MainFiles["model.safetensors"]) + ".incomplete";
        Assert.True(new FileInfo(partial).Length > 0);

        string snapshot = await bed.Pull();
        Assert.NotNull(bed.Hub.BodyRequests("model.safetensors").Last().Range);
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
    }

    [Fact]
    public async Task FilesDownloadInParallel()
    {
        using var bed = new HubTestBed();
        bed.Hub.BodyDelay = TimeSpan.FromMilliseconds(150);
        await bed.Pull(bed.Options(parallel: 4));
        Assert.InRange(bed.Hub.MaxConcurrentBodies, 2, 4);

        using var serial = new HubTestBed();
        serial.Hub.BodyDelay = TimeSpan.FromMilliseconds(20);
        await serial.Pull(serial.Options(parallel: 1));
        Assert.Equal(1, serial.Hub.MaxConcurrentBodies);
    }

    [Fact]
    public async Task ACompleteSnapshotIsServedWhenTheHubIsDown()
    {
        using var bed = new HubTestBed();
        string snapshot = await bed.Pull();
        await bed.Pull(bed.Options(revision: "v1", include: ["config.json"]));
        bed.Hub.Dispose();

        var log = new ProgressLog();
        Assert.Equal(snapshot, await bed.Pull(progress: log));
        Assert.Contains(log.Events, p => p.Kind == HubProgressKind.UsingCache);
        Assert.Equal(snapshot, await bed.Pull(bed.Options(revision: bed.Main)));
        Assert.Equal(bed.Snapshot(bed.V1), await bed.Pull(bed.Options(revision: "v1", include: ["config.json"])));

        // v1 was pulled only in part: without the patterns that selected that part, it is not complete.
        var partial = await Assert.ThrowsAsync<HubException>(() => bed.Pull(bed.Options(revision: "v1")));
        Assert.Contains("cannot reach", partial.Message);
        Assert.Contains("lacks 2 of 3 files", partial.Message);

        var never = await Assert.ThrowsAsync<HubException>(() => bed.Pull(bed.Options(revision: "v2")));
        Assert.Contains("never pulled", never.Message);
    }

    [Fact]
    public async Task HfHubOfflineUsesOnlyTheCache()
    {
        using var bed = new HubTestBed();
        string snapshot = await bed.Pull();
        int requests = bed.Hub.Requests.Count;

        Assert.Equal(snapshot, await bed.Pull(env: bed.Env(("HF_HUB_OFFLINE", "1"))));
        Assert.Equal(snapshot, await bed.Pull(bed.Options(offline: true)));
        Assert.Equal(requests, bed.Hub.Requests.Count);

        var e = await Assert.ThrowsAsync<HubException>(() => bed.Pull(bed.Options(revision: "v1"), env: bed.Env(("HF_HUB_OFFLINE", "true"))));
        Assert.Contains("offline", e.Message);
        Assert.Contains(HubTestBed.RepoId, e.Message);
        Assert.Equal(requests, bed.Hub.Requests.Count);
    }

    [Fact]
    public async Task SnapshotsFromOtherToolsWithoutAManifestAreServedOffline()
    {
        using var bed = new HubTestBed();
        string snapshot = await bed.Pull();
        Directory.Delete(Path.Combine(bed.RepoFolder, ".scalpel"), recursive: true);
        Assert.Equal(snapshot, await bed.Pull(bed.Options(offline: true)));
        Assert.Equal(snapshot, await bed.Pull(bed.Options(offline: true, include: ["*.safetensors"])));
        await Assert.ThrowsAsync<HubException>(() => bed.Pull(bed.Options(offline: true, include: ["*.gguf"])));

        File.Delete(bed.Blob(bed.MainFiles["config.json"]));   // a dangling link: not complete
        await Assert.ThrowsAsync<HubException>(() => bed.Pull(bed.Options(offline: true)));
    }

    [Theory]
    [InlineData("acme/tiny-llama", true)]
    [InlineData("gpt2", true)]
    [InlineData("org/name.v2_x", true)]
    [InlineData("a/b/c", false)]
    [InlineData("org--x/name", false)]
    [InlineData("org/..name", false)]
    [InlineData("-org/name", false)]
    [InlineData("org/name.git", false)]
    [InlineData("../etc", false)]
    [InlineData("", false)]
    public void RepositoryIdsAreChecked(string repoId, bool valid) => Assert.Equal(valid, HubClient.IsValidRepoId(repoId));

    [Fact]
    public async Task BadArgumentsAreRefusedBeforeAnyRequest()
    {
        using var bed = new HubTestBed();
        using var client = new HubClient(environment: bed.Env());
        await Assert.ThrowsAsync<ArgumentException>(() => client.DownloadSnapshotAsync("not a repo", bed.Options(), null));
        await Assert.ThrowsAsync<ArgumentException>(() => client.DownloadSnapshotAsync(HubTestBed.RepoId, bed.Options(revision: "../../x"), null));
        Assert.Empty(bed.Hub.Requests);
    }

    [Fact]
    public void SettingsComeFromTheEnvironmentLikeHuggingfaceHub()
    {
        HubEnvironment Env(params (string, string)[] vars)
        {
            var map = vars.ToDictionary(v => v.Item1, v => v.Item2);
            return new HubEnvironment(n => map.GetValueOrDefault(n));
        }
        string home = Path.Combine(Path.GetTempPath(), "scalpel-no-such-home-" + Guid.NewGuid().ToString("N"));
        var plain = Env(("HOME", home));
        Assert.Equal("https://huggingface.co", plain.Endpoint);
        Assert.Equal(Path.Combine(home, ".cache", "huggingface", "hub"), plain.HubCache);
        Assert.Equal(Path.Combine(home, ".cache", "huggingface", "token"), plain.TokenPath);
        Assert.Null(plain.Token);
        Assert.False(plain.Offline);

        Assert.Equal("http://127.0.0.1:9", Env(("HF_ENDPOINT", "http://127.0.0.1:9/")).Endpoint);
        Assert.Equal(Path.Combine("/x", "huggingface", "hub"), Env(("HOME", home), ("XDG_CACHE_HOME", "/x")).HubCache);
        Assert.Equal(Path.Combine("/h", "hub"), Env(("HOME", home), ("HF_HOME", "/h")).HubCache);
        Assert.Equal("/c", Env(("HF_HOME", "/h"), ("HF_HUB_CACHE", "/c")).HubCache);
        Assert.Equal(Path.Combine(home, "hfh", "hub"), Env(("HOME", home), ("HF_HOME", "~/hfh")).HubCache);
        foreach (var yes in new[] { "1", "ON", "yes", "True" }) Assert.True(Env(("HF_HUB_OFFLINE", yes)).Offline);
        foreach (var no in new[] { "0", "", "no" }) Assert.False(Env(("HF_HUB_OFFLINE", no)).Offline);

        using var dir = new TempDir();
        File.WriteAllText(dir.File("token"), "  hf_file \n");
        Assert.Equal("hf_file", Env(("HF_HOME", dir.Path)).Token);
        Assert.Equal("hf_env", Env(("HF_HOME", dir.Path), ("HF_TOKEN", "hf_env")).Token);
        Assert.Equal("hf_file", Env(("HF_TOKEN_PATH", dir.File("token"))).Token);
    }

    [Fact]
    public void FakeHubBlobIdsMatchGit()
    {
        // `printf 'hello\n' | git hash-object --stdin`
        Assert.Equal("ce013625030ba8dba906f756967f9e9ca394464a", FakeHub.FakeFile.Text("hello\n").GitOid);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("x"u8)), new FakeHub.FakeFile("x"u8.ToArray(), lfs: true).Etag);
    }
}
