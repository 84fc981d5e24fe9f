using System.Collections.Concurrent;
using Scalpel.Tests.Oracles;
using Scalpel.Text;

namespace Scalpel.Tests.Text;

/// <summary>The tokenizers in ../shared/fixtures/tokenizers, loaded once per test run, and the llama.cpp vocab test vectors.</summary>
public static class TokenizerFixtures
{
    public static readonly string[] Names = ["llama3", "qwen2.5", "llama2", "phi-3-mini", "phi-2", "added-tokens"];

    private static readonly ConcurrentDictionary<string, Lazy<Tokenizer>> Cache = new();

    public static string Dir(string name) => Path.Combine(RepoPaths.Fixtures, "tokenizers", name);

    public static Tokenizer Load(string name) =>
        Cache.GetOrAdd(name, n => new Lazy<Tokenizer>(() => Tokenizer.FromDirectory(Dir(n)))).Value;

    /// <summary>Cases of ggml-vocab-NAME.gguf.inp/.out: (text, expected ids).</summary>
    public static List<(string Text, int[] Ids)> VocabCases(string vocab)
    {
        string dir = Path.Combine(RepoPaths.Fixtures, "vocab-tests");
        string inp = File.ReadAllText(Path.Combine(dir, $"ggml-vocab-{vocab}.gguf.inp"));
        var texts = inp.Split("\n__ggml_vocab_test__\n").ToList();
        if (inp.EndsWith("\n__ggml_vocab_test__\n", StringComparison.Ordinal)) texts.RemoveAt(texts.Count - 1);
        var lines = File.ReadAllText(Path.Combine(dir, $"ggml-vocab-{vocab}.gguf.out")).Split('\n');
        var cases = new List<(string, int[])>();
        for (int i = 0; i < texts.Count; i++)
        {
            int[] ids = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
            cases.Add((texts[i], ids));
        }
        return cases;
    }
}
