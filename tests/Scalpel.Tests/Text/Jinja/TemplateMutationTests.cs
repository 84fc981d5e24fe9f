using System.Text.Json.Nodes;
using Scalpel.Tests.Oracles;
using Scalpel.Text;
using Xunit;

namespace Scalpel.Tests.Text.Jinja;

/// <summary>Broken templates (random edits of the real ones) either render or fail with a TemplateException: never
/// another exception type, a hang or a crash.</summary>
public class TemplateMutationTests
{
    [Fact]
    public void MutatedTemplatesFailCleanly()
    {
        string root = Path.Combine(RepoPaths.Fixtures, "chat-templates");
        var sources = Directory.GetFiles(root, "*.jinja", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(File.ReadAllText).ToList();
        var rng = new Random(7);
        string[] inserts = ["{{", "}}", "{%", "%}", "{#", "#}", "(", ")", "[", "]", "'", "\"", "|", ".", "-", "+", "*", "/", "%", "~", "not ", " is ", " in ", "if ", "endif", "for ", "endfor", "loop", "none", "0", "-1", ":", ",", "=", "\\"];
        var context = new JsonObject
        {
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "system", ["content"] = "s" },
                new JsonObject { ["role"] = "user", ["content"] = "u" },
                new JsonObject { ["role"] = "assistant", ["content"] = "a", ["tool_calls"] = new JsonArray(new JsonObject { ["function"] = new JsonObject { ["name"] = "f", ["arguments"] = new JsonObject { ["x"] = 1 } } }) },
                new JsonObject { ["role"] = "user", ["content"] = "u2" }),
            ["tools"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "f", ["parameters"] = new JsonObject() } }),
            ["add_generation_prompt"] = true,
            ["bos_token"] = "<s>",
            ["eos_token"] = "</s>",
        };
        int rendered = 0, failed = 0;
        for (int i = 0; i < 4000; i++)
        {
            string s = sources[rng.Next(sources.Count)];
            for (int edits = 1 + rng.Next(3); edits > 0; edits--)
            {
                int at = rng.Next(s.Length + 1);
                s = rng.Next(3) switch
                {
                    0 when s.Length > 0 => s.Remove(Math.Min(at, s.Length - 1), Math.Min(1 + rng.Next(8), s.Length - Math.Min(at, s.Length - 1))),
                    1 => s.Insert(at, inserts[rng.Next(inserts.Length)]),
                    _ when s.Length > 0 => s.Insert(at, s.Substring(rng.Next(s.Length) is var from ? from : 0, Math.Min(1 + rng.Next(20), s.Length - from))),
                    _ => s + "{{",
                };
            }
            try
            {
                new ChatTemplate(s, "mutant") { Clock = () => new DateTime(2024, 1, 1) }.Render(context);
                rendered++;
            }
            catch (TemplateException e)
            {
                Assert.StartsWith("mutant:", e.Message);
                // .NET exception names would mean a builtin met a value it did not expect: a bug to fix.
                Assert.False(e.Message.Contains("internal error", StringComparison.Ordinal) || e.Message.Contains("Exception:", StringComparison.Ordinal), e.Message);
                failed++;
            }
        }
        Assert.True(rendered > 300 && failed > 300, $"{rendered} rendered, {failed} failed");
    }
}
