using System.Text.Json.Nodes;
using Scalpel.Tests.Oracles;
using Xunit;
using Xunit.Abstractions;

namespace Scalpel.Tests.Text;

/// <summary>
/// Components the fixture tokenizers do not use, checked against transformers.js on real vocabularies with the
/// component swapped in: the Metaspace pre-tokenizer (prepend_scheme "first", as newer Llama/Mistral files have),
/// ByteLevel's add_prefix_space, NFKC, and a Split regex that is not one of the hand-written scanners (so it runs on
/// .NET's regex engine over stand-ins for supplementary characters).
/// </summary>
public class TokenizerVariantTests(ITestOutputHelper output)
{
    public static TheoryData<string> Variants => new() { "llama2-metaspace", "phi2-prefix-space", "qwen-nfkc-regex" };

    [Theory]
    [MemberData(nameof(Variants))]
    public void VariantMatchesTransformersJs(string variant)
    {
        string root = Path.Combine(Path.GetTempPath(), "scalpel-tok-variants-" + Guid.NewGuid().ToString("N"));
        try
        {
            string dir = Path.Combine(root, variant);
            Directory.CreateDirectory(dir);
            string source = variant switch
            {
                "llama2-metaspace" => "llama2",
                "phi2-prefix-space" => "phi-2",
                _ => "qwen2.5",
            };
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TokenizerFixtures.Dir(source), "tokenizer.json")))!;
            switch (variant)
            {
                case "llama2-metaspace":
                    json["normalizer"] = null;
                    json["pre_tokenizer"] = JsonNode.Parse("""{"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": false}""");
                    break;
                case "phi2-prefix-space":
                    json["pre_tokenizer"] = JsonNode.Parse("""{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}""");
                    break;
                default:
                    json["normalizer"] = JsonNode.Parse("""{"type": "NFKC"}""");
                    json["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] =
                        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,2}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
                    break;
            }
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
            foreach (var f in new[] { "tokenizer_config.json", "special_tokens_map.json" })
            {
                string from = Path.Combine(TokenizerFixtures.Dir(source), f);
                if (File.Exists(from)) File.Copy(from, Path.Combine(dir, f));
            }

            var tok = Scalpel.Text.Tokenizer.FromDirectory(dir);
            var inputs = TokenizerInputs.Generate(seed: variant.Length * 7919, 600, TokenizerDifferentialTests.AddedTokenContents(tok));
            var (js, _) = TokenizerJsOracle.Run(variant, inputs, tokenizersDir: root);
            var failures = new List<string>();
            int compared = 0;
            for (int i = 0; i < inputs.Count; i++)
            {
                if (TokenizerDifferentialTests.JsSplitsUnnormalizedToken(source, inputs[i]) && variant != "llama2-metaspace") continue;
                compared++;
                var ids = tok.Encode(inputs[i]);
                if (!ids.SequenceEqual(js[i].Ids))
                    failures.Add($"{TokenizerConformanceTests.Escape(inputs[i])}: js {string.Join(' ', js[i].Ids)} / scalpel {string.Join(' ', ids)}");
                string decoded = tok.Decode(js[i].Ids);
                if (decoded != js[i].Decoded)
                    failures.Add($"{TokenizerConformanceTests.Escape(inputs[i])}: decode js {TokenizerConformanceTests.Escape(js[i].Decoded)} / scalpel {TokenizerConformanceTests.Escape(decoded)}");
            }
            output.WriteLine($"{variant}: {compared} inputs compared with transformers.js, {failures.Count} differences");
            Assert.True(failures.Count == 0, string.Join('\n', failures.Take(12)));
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }
}
