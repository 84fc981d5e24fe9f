using System.Diagnostics;
using System.Text.Json.Nodes;
using Scalpel.Generation;
using Scalpel.Tests.Generation.Constraints;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Server.Inference;

/// <summary>
/// The official `openai` npm package, unchanged (tests/oracles/js/openai_client.mjs), against the in-process server:
/// chat, streaming with usage, json_schema, a forced tool call and a legacy completion. A missing node or package is a
/// failure, never a skip: ./run-tests installs them.
/// </summary>
public sealed class JsClientTests(InferenceServerFixture fx) : IClassFixture<InferenceServerFixture>
{
    [Fact]
    public async Task TheNpmClientChatsStreamsAndGetsSchemaAnswers()
    {
        string scriptDir = Path.Combine(RepoPaths.Root, "tests", "oracles", "js");
        string package = Path.Combine(scriptDir, "node_modules", "openai");
        Assert.True(Directory.Exists(package), $"{package} is missing: run ./run-tests (it runs npm install in tests/oracles/js)");
        var psi = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = scriptDir,
        };
        psi.ArgumentList.Add(Path.Combine(scriptDir, "openai_client.mjs"));
        psi.ArgumentList.Add(new Uri(fx.Server.Address!, "v1").ToString());
        psi.ArgumentList.Add("no-key-needed");
        psi.ArgumentList.Add("tiny-base");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"openai_client.mjs failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        var result = JsonNode.Parse(await stdout)!;

        var expected = fx.Generate("talk", 24);
        Assert.Equal(expected.Text, (string?)result["chat"]!["text"]);
        Assert.Equal(expected.Tokens.Length, (int)result["chat"]!["usage"]!["completion_tokens"]!);
        Assert.Equal(expected.Text, (string?)result["stream"]!["text"]);
        Assert.Equal((string?)result["chat"]!["finish"], (string?)result["stream"]!["finish"]);
        Assert.Equal(expected.Tokens.Length, (int)result["stream"]!["usage"]!["completion_tokens"]!);
        Assert.True((int)result["stream"]!["chunks"]! > 3);

        var schema = JsonNode.Parse("""
            {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}, "days": {"type": "integer"}, "sunny": {"type": "boolean"}},
             "required": ["city", "days", "sunny"]}
            """)!;
        ConstraintHarness.AssertValid(schema, result["schema"]!.AsArray().Select(s => (string)s!).ToList());

        Assert.Equal("tool_calls", (string?)result["tool"]!["finish"]);
        var call = result["tool"]!["calls"]![0]!;
        Assert.Equal("get_weather", (string?)call["function"]!["name"]);
        ConstraintHarness.AssertValid(schema, [(string)call["function"]!["arguments"]!]);

        var model = fx.Reference();
        GenerationResult legacy;
        lock (model)
            legacy = model.Generator.Generate(new GenerationRequest { PromptIds = model.Tokenizer.Encode("the quick brown fox"), MaxNewTokens = 12 });
        Assert.Equal(legacy.Text, (string?)result["completion"]!["text"]);
    }
}
