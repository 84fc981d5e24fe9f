using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Text;

namespace Scalpel.Bench;

/// <summary>
/// Tokenizer throughput: a generated multilingual corpus (English prose, code, Chinese, Russian, German/French,
/// Japanese, emoji and numbers) split into documents of 1–8 KB, encoded document by document (special tokens added, as
/// a data pipeline does) by Scalpel and by @huggingface/transformers (transformers.js in node, bench/peers/tokenize_hf.mjs)
/// in the same run on the same file. Reports MB/s of UTF-8 input per tokenizer; both sides must produce the same
/// number of tokens. Last line: tokenize-cpu scalpel/transformers.js mb_per_s=R (geometric mean over the tokenizers).
/// </summary>
public static class TokenizerBench
{
    private const char DocumentSeparator = '\u001E';

    public static int Run(string[] args)
    {
        int megabytes = 20, rounds = 3;
        bool peer = true;
        var names = new List<string>();
        string? peerPackage = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--mb": megabytes = int.Parse(args[++i]); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                case "--no-peer": peer = false; break;
                case "--only": names.Add(args[++i]); break;
                case "--peer-package": peerPackage = args[++i]; break;
                default:
                    Console.Error.WriteLine("usage: tokenize-cpu [--mb N] [--rounds N] [--only TOKENIZER]... [--no-peer] [--peer-package DIR]");
                    return 2;
            }
        }
        if (names.Count == 0) names.AddRange(["llama3", "llama2", "qwen2.5"]);
        string root = RepoRoot();
        string fixtures = Path.GetFullPath(Path.Combine(root, "..", "shared", "fixtures", "tokenizers"));
        peerPackage ??= Path.Combine(root, "tests", "oracles", "js", "node_modules", "@huggingface", "transformers");

        var docs = Corpus.Generate(megabytes * 1_000_000L, seed: 1);
        long bytes = docs.Sum(d => (long)Encoding.UTF8.GetByteCount(d));
        string file = Path.Combine(Path.GetTempPath(), $"scalpel-tokenize-bench-{megabytes}mb.txt");
        File.WriteAllText(file, string.Join(DocumentSeparator, docs), new UTF8Encoding(false));
        Console.WriteLine($"corpus: {docs.Count} documents, {bytes / 1e6:F1} MB UTF-8, {docs.Sum(d => (long)d.Length) / 1e6:F1} M chars ({file})");

        var ours = new Dictionary<string, (double MbPerS, long Tokens)>();
        foreach (var name in names)
        {
            long tokens = 0;
            double best = double.MaxValue, loadS = 0;
            for (int r = 0; r < rounds; r++)
            {
                // A fresh tokenizer each round: its word cache starts cold, as in one pass over new data. Like the
                // peer, a warm-up over the first ~2 MB, then the timed pass over everything.
                var load = Stopwatch.StartNew();
                var tok = Tokenizer.FromDirectory(Path.Combine(fixtures, name));
                loadS = load.Elapsed.TotalSeconds;
                long warm = 0;
                foreach (var d in docs)
                {
                    tok.Encode(d);
                    if ((warm += d.Length) > 2_000_000) break;
                }
                var watch = Stopwatch.StartNew();
                long n = 0;
                foreach (var d in docs) n += tok.Encode(d).Length;
                best = Math.Min(best, watch.Elapsed.TotalSeconds);
                tokens = n;
            }
            ours[name] = (bytes / 1e6 / best, tokens);
            Console.WriteLine($"  scalpel {name,-8} load {loadS:F2} s, best of {rounds} cold-cache passes: {best:F2} s, {bytes / 1e6 / best:F1} MB/s, {tokens:N0} tokens");
        }

        if (!peer)
        {
            Console.WriteLine($"{"tokenizer",-10} {"scalpel MB/s",12}");
            foreach (var name in names) Console.WriteLine($"{name,-10} {ours[name].MbPerS,12:F1}");
            return 0;
        }

        var theirs = RunPeer(root, peerPackage, fixtures, file, names);
        Console.WriteLine();
        Console.WriteLine($"{"tokenizer",-10} {"scalpel MB/s",12} {"transformers.js MB/s",21} {"ratio",7} {"tokens",12}");
        double logSum = 0;
        bool sameTokens = true;
        foreach (var name in names)
        {
            var (ourSpeed, ourTokens) = ours[name];
            var (theirSpeed, theirTokens) = theirs[name];
            double ratio = ourSpeed / theirSpeed;
            logSum += Math.Log(ratio);
            bool same = ourTokens == theirTokens;
            sameTokens &= same;
            Console.WriteLine($"{name,-10} {ourSpeed,12:F1} {theirSpeed,21:F2} {ratio,7:F1} {ourTokens,12:N0}{(same ? "" : $" (transformers.js: {theirTokens:N0})")}");
        }
        if (!sameTokens) Console.WriteLine("WARNING: token counts differ between Scalpel and transformers.js");
        Console.WriteLine($"tokenize-cpu scalpel/transformers.js mb_per_s={Math.Exp(logSum / names.Count):F2}");
        return sameTokens ? 0 : 1;
    }

    private static Dictionary<string, (double MbPerS, long Tokens)> RunPeer(string root, string package, string fixtures, string file, List<string> names)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("--max-old-space-size=8192");
        psi.ArgumentList.Add(Path.Combine(root, "bench", "peers", "tokenize_hf.mjs"));
        psi.ArgumentList.Add(package);
        psi.ArgumentList.Add(fixtures);
        psi.ArgumentList.Add(file);
        foreach (var n in names) psi.ArgumentList.Add(n);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node");
        var result = new Dictionary<string, (double, long)>();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            if (!line.StartsWith('{')) { Console.WriteLine("  " + line); continue; }
            var json = JsonNode.Parse(line)!;
            string name = (string)json["tokenizer"]!;
            result[name] = ((double)json["mb_per_s"]!, (long)json["tokens"]!);
            Console.WriteLine($"  transformers.js {name,-8} load {(double)json["load_s"]!:F2} s, {(double)json["seconds"]!:F2} s, {(double)json["mb_per_s"]!:F2} MB/s, {(long)json["tokens"]!:N0} tokens");
        }
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"peer exited with {process.ExitCode}");
        return result;
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Scalpel.slnx"))) return d.FullName;
        throw new InvalidOperationException("repository root (Scalpel.slnx) not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A deterministic multilingual corpus with realistic word frequencies (Zipf-like) and some rare words.</summary>
    public static class Corpus
    {
        private static readonly string[] English =
        (
            "the of and to a in is that for it as was with be by on not he I this are or his from at which but have an they you " +
            "were her she there been one all we their has would when if so what no can more about other into some could them " +
            "time these two may then do first any my now such like our over man me even most made after also did many before " +
            "must through back years where much your way well down should because each just those people how too little state " +
            "good very make world still own see men work long get here between both life being under never day same another " +
            "know while last might us great old year off come since against go came right used take three model training data " +
            "tokenizer learning rate gradient loss function network neural layer attention transformer parameters fine-tuning " +
            "adapter weights evaluation benchmark throughput latency memory compute language sequence token vocabulary merge"
        ).Split(' ');

        private static readonly string[] German = "der die das und ist nicht über Straße Mädchen schön Größe für Bücher wäre Käse Äpfel".Split(' ');
        private static readonly string[] French = "le la les et est très élève été où ça déjà français naïve garçon cœur noël".Split(' ');
        private static readonly string[] Russian = "и в не на я быть он с что а по это она этот к но они мы как из у который то за свой весь год от так о для ты же все тот мочь вы человек такой его сказать только или ещё бы себя один".Split(' ');
        private static readonly string[] Emoji = ["😀", "🚀", "👍", "❤️", "🦙", "✅", "🎉", "👨‍👩‍👧", "🇯🇵", "😂"];
        private static readonly string[] Code =
        [
            "def forward(self, x):", "    return self.proj(x) + residual", "for (int i = 0; i < n; i++) {", "    sum += a[i] * b[i];", "}",
            "import numpy as np", "if __name__ == \"__main__\":", "    main()", "const result = await fetch(url);", "SELECT id, name FROM users WHERE active = 1;",
            "        self.weight = nn.Parameter(torch.randn(out_features, in_features))", "#include <stdio.h>", "x = [i ** 2 for i in range(10)]",
        ];

        public static List<string> Generate(long targetBytes, int seed)
        {
            var rng = new Random(seed);
            string hanPool = string.Concat(Enumerable.Range(0, 1200).Select(i => (char)(0x4E00 + (i * 7919) % 0x51A5)));
            string kanaPool = string.Concat(Enumerable.Range(0x3041, 0x56).Select(c => (char)c)) + string.Concat(Enumerable.Range(0x30A1, 0x59).Select(c => (char)c));
            var docs = new List<string>();
            long total = 0;
            var sb = new StringBuilder();
            while (total < targetBytes)
            {
                sb.Clear();
                int target = rng.Next(1000, 8000);
                int kind = rng.Next(100);
                while (sb.Length < target)
                {
                    if (kind < 60) EnglishSentence(rng, sb);
                    else if (kind < 70) sb.Append(Code[rng.Next(Code.Length)]).Append('\n');
                    else if (kind < 80) HanSentence(rng, sb, hanPool);
                    else if (kind < 88) Words(rng, sb, Russian, ". ");
                    else if (kind < 93) Words(rng, sb, rng.Next(2) == 0 ? German : French, ". ");
                    else if (kind < 97) { HanSentence(rng, sb, kanaPool); }
                    else { sb.Append(Emoji[rng.Next(Emoji.Length)]).Append(' ').Append(rng.Next(100000)).Append(' '); EnglishSentence(rng, sb); }
                    if (rng.Next(12) == 0) sb.Append("\n\n");
                }
                string doc = sb.ToString();
                docs.Add(doc);
                total += Encoding.UTF8.GetByteCount(doc);
            }
            return docs;
        }

        private static int Zipf(Random rng, int n) => Math.Min(n - 1, (int)(Math.Pow(rng.NextDouble(), 2.2) * n));

        private static void EnglishSentence(Random rng, StringBuilder sb)
        {
            int words = rng.Next(5, 25);
            for (int i = 0; i < words; i++)
            {
                string w = rng.Next(40) == 0 ? RareWord(rng) : English[Zipf(rng, English.Length)];
                if (i == 0) w = char.ToUpperInvariant(w[0]) + w[1..];
                sb.Append(w);
                sb.Append(rng.Next(15) == 0 ? ", " : i == words - 1 ? (rng.Next(8) == 0 ? "? " : ". ") : " ");
            }
        }

        private static string RareWord(Random rng)
        {
            const string letters = "etaoinshrdlcumwfgypbvkjxqz";
            var chars = new char[rng.Next(4, 13)];
            for (int i = 0; i < chars.Length; i++) chars[i] = letters[Zipf(rng, letters.Length)];
            return new string(chars);
        }

        private static void HanSentence(Random rng, StringBuilder sb, string pool)
        {
            int runs = rng.Next(2, 6);
            for (int r = 0; r < runs; r++)
            {
                int len = rng.Next(2, 12);
                for (int i = 0; i < len; i++) sb.Append(pool[Zipf(rng, pool.Length)]);
                sb.Append(r == runs - 1 ? "。" : "，");
            }
        }

        private static void Words(Random rng, StringBuilder sb, string[] words, string end)
        {
            int n = rng.Next(5, 18);
            for (int i = 0; i < n; i++) sb.Append(words[Zipf(rng, words.Length)]).Append(i == n - 1 ? end : " ");
        }
    }
}
