using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Scalpel.Backends.Cpu;
using Scalpel.IO.Gguf;
using Scalpel.Models;
using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Scalpel.Tests.Text.Jinja;
using Scalpel.Training;
using Xunit;
using Xunit.Abstractions;

namespace Scalpel.Tests.IO;

/// <summary>
/// <c>scalpel export gguf --modelfile</c>. For every chat-template family the translator knows, real templates (the
/// shared fixtures: model repos' own Jinja, llama.cpp's test table) are rendered by @huggingface/jinja, and the Go
/// TEMPLATE Scalpel writes for them is rendered by <see cref="GoTemplate"/> with the values Ollama passes (.System =
/// the system messages joined by blank lines; .Messages with and without the system messages, as Ollama versions
/// differ); the two prompts must be the same text. What this proves and what not: the Jinja side is an oracle nobody
/// here wrote; the Go side is our own interpreter of Go's template rules, so a misreading of those rules would go
/// unnoticed (Ollama itself is not run).
/// </summary>
[Collection("console")]
public class OllamaModelfileTests(ITestOutputHelper output)
{
    private static readonly string Fixtures = Path.Combine(RepoPaths.Fixtures, "chat-templates");

    private static string File_(string relative) => File.ReadAllText(Path.Combine(Fixtures, relative));

    private static string Golden(string name) =>
        (string)JsonNode.Parse(File_("goldens.json"))!["llama_cpp"]!["cases"]!.AsArray().Single(c => (string)c!["name"]! == name)!["template"]!;

    private const string TinyChatMl =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    public static TheoryData<string> Cases => new()
    {
        "pipeline-chatml", "openhermes-chatml", "qwen2.5", "qwen3", "llama-3", "mistral-v0.2", "mistral-nemo", "gemma-7b", "gemma-3",
        "phi-3-mini", "phi-3.5-mini", "phi-3-medium", "phi-3-vision", "phi-4-mini",
    };

    /// <summary>The Jinja source, its EOS text, the family it should be recognised as, and whether it accepts a system message.</summary>
    private static (string Source, string Eos, string Family, bool System) Case(string label) => label switch
    {
        "pipeline-chatml" => (TinyChatMl, "<|im_end|>", "chatml", true),
        "openhermes-chatml" => (Golden("teknium/OpenHermes-2.5-Mistral-7B"), "<|im_end|>", "chatml", true),
        "qwen2.5" => (File_("llama.cpp/Qwen-Qwen2.5-7B-Instruct.jinja"), "<|im_end|>", "chatml", true),
        "qwen3" => (File_("llama.cpp/Qwen-Qwen3-0.6B.jinja"), "<|im_end|>", "chatml", true),
        "llama-3" => (Golden("Llama-3"), "<|eot_id|>", "llama3", true),
        "mistral-v0.2" => (Golden("mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old pre-v1 without a system prompt)"), "</s>", "mistral", false),
        "mistral-nemo" => (File_("llama.cpp/mistralai-Mistral-Nemo-Instruct-2407.jinja"), "</s>", "mistral", true),
        "gemma-7b" => (Golden("google/gemma-7b-it"), "<eos>", "gemma", false),
        "gemma-3" => (File_("onnxruntime-extensions/gemma-3.jinja"), "<eos>", "gemma", true),
        "phi-3-mini" => (File_("onnxruntime-extensions/phi-3-mini.jinja"), "<|endoftext|>", "phi3", true),
        "phi-3.5-mini" => (File_("llama.cpp/microsoft-Phi-3.5-mini-instruct.jinja"), "<|endoftext|>", "phi3", true),
        "phi-3-medium" => (Golden("Phi-3-medium"), "<|endoftext|>", "phi3", false),
        "phi-3-vision" => (Golden("Phi-3-vision"), "<|endoftext|>", "phi3", true),
        "phi-4-mini" => (File_("onnxruntime-extensions/phi-4-mini.jinja"), "<|endoftext|>", "phi4-mini", true),
        _ => throw new ArgumentException(label),
    };

    private static readonly (string Role, string Content)[] Chat =
    [
        ("user", "Hello"), ("assistant", "Hi there, how can I help?"), ("user", "Which class: the wolf was at one tram"),
    ];

    private static readonly (string Role, string Content) SystemMessage = ("system", "You sort words into classes.");

    [Theory]
    [MemberData(nameof(Cases))]
    public void GoTemplateRendersTheSamePromptAsTheJinjaTemplate(string label)
    {
        var (source, eos, family, acceptsSystem) = Case(label);
        var translated = OllamaModelfile.Translate(source, eos);
        Assert.NotNull(translated);
        Assert.Equal(family, translated.Family);

        var conversations = new List<(string Role, string Content)[]> { Chat };
        if (acceptsSystem) conversations.Add([SystemMessage, .. Chat]);
        var cases = conversations.Select(c => ("t", new JsonObject
        {
            ["messages"] = new JsonArray(c.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content }).ToArray()),
            ["add_generation_prompt"] = true,
            ["bos_token"] = "",   // llama.cpp adds BOS when tokenizing, so the Go template leaves it out
            ["eos_token"] = eos,
        })).ToList();
        var jinja = JinjaOracle.Render(new Dictionary<string, string> { ["t"] = source }, cases);

        for (int k = 0; k < conversations.Count; k++)
        {
            Assert.True(jinja[k].Error is null, $"{label}: Jinja error {jinja[k].Error}");
            var messages = conversations[k];
            string system = string.Join("\n\n", messages.Where(m => m.Role == "system").Select(m => m.Content));
            foreach (bool keepSystemMessages in new[] { true, false })
            {
                var list = messages.Where(m => keepSystemMessages || m.Role != "system")
                    .Select(m => (object?)new Dictionary<string, object?> { ["Role"] = m.Role, ["Content"] = m.Content }).ToList();
                string ours = GoTemplate.Render(translated.Template, new Dictionary<string, object?> { ["System"] = system, ["Messages"] = list });
                output.WriteLine($"{label} ({(system.Length > 0 ? "with" : "no")} system):\n{ours}\n---");
                Assert.Equal(jinja[k].Text, ours);
            }
        }
    }

    [Fact]
    public void TemplatesOfOtherFamiliesAreNotGuessed()
    {
        foreach (var file in new[] { "llama.cpp/deepseek-ai-DeepSeek-V3.1.jinja", "llama.cpp/openai-gpt-oss-120b.jinja",
                     "llama.cpp/ibm-granite-granite-3.3-2B-Instruct.jinja", "onnxruntime-extensions/phi-4.jinja",
                     "llama.cpp/Mistral-Small-3.2-24B-Instruct-2506.jinja", "onnxruntime-extensions/phi-4-mini-reasoning.jinja" })
            Assert.Null(OllamaModelfile.Translate(File_(file), "</s>"));
        // Llama 3.1's date preamble is dropped, and said so.
        var llama31 = OllamaModelfile.Translate(File_("llama.cpp/meta-llama-Llama-3.1-8B-Instruct.jinja"), "<|eot_id|>")!;
        Assert.Equal("llama3", llama31.Family);
        Assert.Contains(llama31.Notes, n => n.Contains("Cutting Knowledge Date"));
    }

    [Fact]
    public void GoTemplateInterpreterFollowsGoRules()
    {
        // Hand-checked against Go's text/template documentation: trim markers eat all adjacent white space, variables
        // declared outside a range keep assignments made inside it, else-if chains share one end, and/or return operands.
        var data = new Dictionary<string, object?>
        {
            ["System"] = "", ["Messages"] = new List<object?> { new Dictionary<string, object?> { ["Role"] = "user" }, new Dictionary<string, object?> { ["Role"] = "x" } },
        };
        Assert.Equal("a b", GoTemplate.Render("a \n\t {{- \" \" -}} \n b", data));
        Assert.Equal("1:user 0:x", GoTemplate.Render("{{ $n := 1 }}{{ range $i, $m := .Messages }}{{ if $i }} {{ end }}{{ $n }}:{{ $m.Role }}{{ $n = 0 }}{{ end }}", data));
        Assert.Equal("U-o", GoTemplate.Render("{{ range .Messages }}{{ if eq .Role \"user\" }}U{{ else if eq .Role \"z\" }}Z{{ else }}-o{{ end }}{{ end }}", data));
        Assert.Equal("no|last", GoTemplate.Render("{{ if .System }}yes{{ else }}no{{ end }}|{{ range $i, $_ := .Messages }}{{ if eq (len (slice $.Messages $i)) 1 }}last{{ end }}{{ end }}", data));
        Assert.Equal("", GoTemplate.Render("{{ and .System \"x\" }}", data));
        Assert.Throws<GoTemplate.GoTemplateException>(() => GoTemplate.Render("{{ .System | printf \"%s\" }}", data));
    }

    [Fact]
    public void ExportWritesAModelfileWhoseTemplateAndStopsFitTheModel()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model"), outDir = Path.Combine(dir.Path, "out");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        Directory.CreateDirectory(outDir);
        string gguf = Path.Combine(outDir, "tiny.gguf");
        var (code, stdout, err) = Cli.CliRunner.Run("export", "gguf", "--model", model, "--out", gguf, "--type", "q8_0", "--modelfile");
        Assert.True(code == 0, err);
        string modelfile = Path.Combine(outDir, "Modelfile");
        Assert.Equal([Path.GetFullPath(gguf), modelfile], stdout.Trim().Split('\n').Select(l => l.Trim()));
        Assert.Equal("", err.Trim());

        string text = File.ReadAllText(modelfile);
        output.WriteLine(text);
        var lines = text.Split('\n');
        Assert.Contains("FROM ./tiny.gguf", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("ADAPTER", StringComparison.Ordinal));
        // The only stop is <|im_end|>: the tokenizer's EOS and config.json's eos_token_id are that same token.
        Assert.Equal(["PARAMETER stop \"<|im_end|>\""], lines.Where(l => l.StartsWith("PARAMETER", StringComparison.Ordinal)));
        var template = Regex.Match(text, "TEMPLATE \"\"\"(.*?)\"\"\"\n", RegexOptions.Singleline);
        Assert.True(template.Success, "no TEMPLATE block");
        string prompt = GoTemplate.Render(template.Groups[1].Value, new Dictionary<string, object?>
        {
            ["System"] = "",
            ["Messages"] = new List<object?> { new Dictionary<string, object?> { ["Role"] = "user", ["Content"] = "Which class: the wolf" } },
        });
        Assert.Equal("<|im_start|>user\nWhich class: the wolf<|im_end|>\n<|im_start|>assistant\n", prompt);
    }

    [Fact]
    public void UntranslatableTemplateGivesAModelfileWithoutTemplateAndAWarning()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        File.WriteAllText(Path.Combine(model, "chat_template.jinja"), File_("llama.cpp/deepseek-ai-DeepSeek-V3.1.jinja"));
        string gguf = Path.Combine(dir.Path, "tiny.gguf");
        var (code, _, err) = Cli.CliRunner.Run("export", "gguf", "--model", model, "--out", gguf, "--type", "f16", "--modelfile");
        Assert.True(code == 0, err);
        Assert.Contains("warning:", err);
        Assert.Contains("no TEMPLATE", err);
        string text = File.ReadAllText(Path.Combine(dir.Path, "Modelfile"));
        Assert.DoesNotContain("TEMPLATE", text);
        Assert.Contains("FROM ./tiny.gguf", text);
        Assert.Contains("PARAMETER stop \"<|im_end|>\"", text);
    }

    [Fact]
    public void AdapterExportWritesFromTheBaseAndAdapterLines()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model"), adapter = Path.Combine(dir.Path, "adapter");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        using (var m = DecoderModel.Load(model, new CpuBackend(), WeightPrecision.F32))
        {
            m.ApplyLora(new Scalpel.Adapters.LoraConfig { Rank = 2, Alpha = 4 }, seed: 1);
            Scalpel.Adapters.PeftAdapter.Save(m, adapter);
        }
        string baseGguf = Path.Combine(dir.Path, "base", "tiny.gguf"), loraDir = Path.Combine(dir.Path, "lora");
        Directory.CreateDirectory(Path.GetDirectoryName(baseGguf)!);
        Directory.CreateDirectory(loraDir);
        Assert.Equal(0, Cli.CliRunner.Run("export", "gguf", "--model", model, "--out", baseGguf, "--type", "f16").Code);
        string loraGguf = Path.Combine(loraDir, "lora.gguf");
        var (code, _, err) = Cli.CliRunner.Run("export", "gguf-adapter", "--model", model, "--adapter", adapter, "--out", loraGguf,
            "--modelfile", "--base", baseGguf);
        Assert.True(code == 0, err);
        var lines = File.ReadAllLines(Path.Combine(loraDir, "Modelfile"));
        Assert.Contains("FROM ../base/tiny.gguf", lines);
        Assert.Contains("ADAPTER ./lora.gguf", lines);
        Assert.Contains(lines, l => l.StartsWith("TEMPLATE \"\"\"", StringComparison.Ordinal));

        // --modelfile without --base has no FROM to write.
        Assert.Equal(2, Cli.CliRunner.Run("export", "gguf-adapter", "--model", model, "--adapter", adapter, "--out", loraGguf, "--modelfile").Code);
    }
}
