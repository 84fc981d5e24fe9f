using System.Text;

namespace Scalpel.Tests.Text;

/// <summary>
/// Deterministic generated inputs for the tokenizer differential tests: many scripts, emoji (ZWJ sequences, skin
/// tones, flags, variation selectors), combining marks, compatibility characters, white space and line-break runs,
/// digit runs, contractions in every case, the tokenizer's own added tokens inside text (with and without the
/// white space their lstrip/rstrip swallow), broken special tokens, empty and white-space-only strings.
/// Characters are drawn from Unicode 14 or older (the Unicode version of Scalpel's normalization tables) and U+0085 /
/// U+FEFF are left out: transformers.js's GPT-2 regex and trim() use JavaScript's \s, which differs from Hugging
/// Face's (Rust/Oniguruma) White_Space exactly there; those two are covered by unit tests instead.
/// </summary>
public static class TokenizerInputs
{
    private static readonly string[] Words =
    [
        "the", "The", "THE", "Hello", "world", "tokenizer", "don't", "I'm", "we've", "they're", "she'll", "he'd", "it's",
        "DON'T", "I'M", "We'Ve", "You'LL", "a'lL", "'s", "'S", "'re", "'RE", "n't", "can't", "café", "naïve", "Zürich", "straße",
        "Äpfel", "Cửa", "Việt", "здравствуйте", "Български", "Ελληνικά", "שלום", "مرحبا", "नमस्ते", "हिन्दी", "ภาษาไทย",
        "ភាសាខ្មែរ", "日本語", "東京", "ひらがな", "カタカナ", "中文", "我想在apple工作", "한국어", "안녕하세요", "각",
        "apple", "banana", "function", "return", "def", "class", "0x1F", "3.14159", "1,000,000", "2024-01-15", "12:30",
        "e.g.", "U.S.A.", "http://example.com/path?q=1&r=2", "user@example.com", "#hashtag", "@mention", "C++", "a_b_c",
        "camelCase", "snake_case", "kebab-case", "ℌ𝔢𝔩𝔩𝔬", "𝐀𝐁𝐂", "𠀀𠀁", "ﬁne", "ﬂow", "㎒", "Ⅻ", "½", "x²", "①", "ｆｕｌｌ", "０１２",
        "٣٤٥", "७८९", "…", "—", "«quote»", "“quote”", "‘single’", "¿Qué?", "¡Hola!", "e\u0301", "a\u0308", "n\u0303",
        "\u1100\u1161\u11A8", "A\u030A", "\u212B", "\u2126", "ḱ", "q\u0323\u0307", "ệ", "e\u0323\u0302", "Å", "ǅ", "ﾊﾟ",
    ];

    private static readonly string[] Emoji =
    [
        "😀", "😁", "🦙", "🚀", "✅", "❤", "❤️", "☀️", "👍", "👍🏽", "👨‍👩‍👧‍👦", "😶‍🌫️", "🏳️‍🌈", "🇺🇸", "🇯🇵", "👩🏾‍💻", "🤖", "🎉",
        "©", "®", "™", "⚡", "🫠", "🧑‍🤝‍🧑", "#️⃣", "1️⃣",
    ];

    private static readonly string[] Spaces =
    [
        " ", " ", " ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r", " \n", "\n ", " \t ", "\u00A0",
        "\u2003", "\u3000", "\u2009", "\u200B", "\u2028", "    \n", "\n\t", "\v", "\f",
    ];

    private static readonly string[] Punct =
    [
        ".", ",", "!", "?", ";", ":", "'", "\"", "(", ")", "[", "]", "{", "}", "<", ">", "/", "\\", "|", "-", "_", "=", "+",
        "*", "&", "^", "%", "$", "#", "@", "~", "`", "...", "!!", "??", "--", "==", "->", "=>", "```", "'''", "<<", ">>",
        "''", "'", " '", "' ", "$$", "\u3002", "\u3001", "\uFF01", "\u00BF", "\u2026",
    ];

    /// <summary>Single characters from many blocks (all assigned by Unicode 14).</summary>
    private static readonly (int Lo, int Hi)[] Ranges =
    [
        (0x21, 0x7E), (0xA1, 0xFF), (0x100, 0x17F), (0x180, 0x24F), (0x250, 0x2AF), (0x2B0, 0x2FF), (0x300, 0x36F),
        (0x370, 0x3FF), (0x400, 0x4FF), (0x531, 0x556), (0x5D0, 0x5EA), (0x620, 0x64A), (0x660, 0x669), (0x905, 0x939),
        (0x93E, 0x94D), (0x966, 0x96F), (0xE01, 0xE3A), (0x1780, 0x17D2), (0x10A0, 0x10C5), (0x1100, 0x1112),
        (0x1161, 0x1175), (0x11A8, 0x11C2), (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x2070, 0x209C), (0x20A0, 0x20BF),
        (0x2100, 0x214F), (0x2150, 0x218B), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2460, 0x24FF), (0x2500, 0x257F),
        (0x2600, 0x26FF), (0x3041, 0x3096), (0x30A1, 0x30FA), (0x3131, 0x318E), (0x3300, 0x33FF), (0x4E00, 0x4FFF),
        (0xAC00, 0xAD00), (0xF900, 0xFA6D), (0xFB00, 0xFB06), (0xFE30, 0xFE4F), (0xFF01, 0xFF5E), (0xFF61, 0xFF9F),
        (0x1D400, 0x1D4FF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F900, 0x1F9FF), (0x20000, 0x200FF),
        (0x10330, 0x1034A), (0x1F1E6, 0x1F1FF), (0x2F800, 0x2F8FF),
    ];

    public static List<string> Generate(int seed, int count, IReadOnlyList<string> addedTokens)
    {
        var rng = new Random(seed);
        var inputs = new List<string>
        {
            "", " ", "  ", "\n", "\t", "\r\n", " \n \n", "Hello world", " Hello world", "Hello  world", "Hello\n\nworld",
            "3", "33", "333", "3333", "12345678901234567890", "don't DON'T Don'T", "'s's'S", "a'b", "''''", "   leading", "trailing   ",
        };
        foreach (var t in addedTokens.Take(12))
        {
            inputs.Add(t);
            inputs.Add("Hi" + t + "there");
            inputs.Add(" " + t + " ");
            inputs.Add("\n" + t + "\n\nHi");
            inputs.Add(t + t);
            if (t.Length > 2) inputs.Add(t[..^1]);   // a broken special token is plain text
        }
        while (inputs.Count < count)
        {
            if (rng.Next(40) == 0)
            {
                inputs.Add(LongRun(rng));   // words past 100 symbols take the priority-queue merge path
                continue;
            }
            int kind = rng.Next(10);
            inputs.Add(kind switch
            {
                0 => RandomChars(rng, rng.Next(1, 40)),
                1 => Sentence(rng, rng.Next(1, 25), addedTokens, specialRate: 0),
                2 => Sentence(rng, rng.Next(1, 25), addedTokens, specialRate: 0.15),
                3 => string.Concat(Enumerable.Range(0, rng.Next(1, 8)).Select(_ => Pick(rng, Spaces))),
                4 => Digits(rng),
                5 => Code(rng),
                6 => string.Concat(Enumerable.Range(0, rng.Next(1, 6)).Select(_ => Pick(rng, Emoji) + (rng.Next(3) == 0 ? Pick(rng, Spaces) : ""))),
                7 => Sentence(rng, rng.Next(20, 80), addedTokens, specialRate: 0.05),
                8 => Mixed(rng, addedTokens),
                _ => Sentence(rng, rng.Next(1, 10), addedTokens, specialRate: 0.3),
            });
        }
        return inputs;
    }

    private static T Pick<T>(Random rng, IReadOnlyList<T> list) => list[rng.Next(list.Count)];

    private static string RandomChar(Random rng)
    {
        var (lo, hi) = Ranges[rng.Next(Ranges.Length)];
        int cp = rng.Next(lo, hi + 1);
        if (cp is >= 0xD800 and <= 0xDFFF or 0x85 or 0xFEFF) cp = 'x';
        var cat = System.Globalization.CharUnicodeInfo.GetUnicodeCategory(cp);
        if (cat is System.Globalization.UnicodeCategory.OtherNotAssigned) cp = 'y';
        return char.ConvertFromUtf32(cp);
    }

    private static string RandomChars(Random rng, int n)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.Append(rng.Next(5) == 0 ? Pick(rng, Spaces) : RandomChar(rng));
        return sb.ToString();
    }

    private static string Sentence(Random rng, int words, IReadOnlyList<string> added, double specialRate)
    {
        var sb = new StringBuilder();
        if (rng.Next(4) == 0) sb.Append(Pick(rng, Spaces));
        for (int i = 0; i < words; i++)
        {
            double r = rng.NextDouble();
            if (added.Count > 0 && r < specialRate) sb.Append(Pick(rng, added));
            else if (r < specialRate + 0.55) sb.Append(Pick(rng, Words));
            else if (r < specialRate + 0.65) sb.Append(Pick(rng, Emoji));
            else if (r < specialRate + 0.8) sb.Append(Pick(rng, Punct));
            else if (r < specialRate + 0.9) sb.Append(rng.Next(0, 100000));
            else sb.Append(RandomChar(rng));
            int sep = rng.Next(10);
            sb.Append(sep < 6 ? " " : sep < 8 ? "" : Pick(rng, Spaces));
        }
        return sb.ToString();
    }

    private static string LongRun(Random rng)
    {
        int n = rng.Next(40, 250);
        var sb = new StringBuilder();
        switch (rng.Next(5))
        {
            case 0: for (int i = 0; i < n; i++) sb.Append((char)('a' + rng.Next(26))); break;
            case 1: for (int i = 0; i < n; i++) sb.Append((char)(0x4E00 + rng.Next(0x5000))); break;
            case 2: for (int i = 0; i < n / 3; i++) sb.Append(Pick(rng, Emoji)); break;
            case 3: for (int i = 0; i < n; i++) sb.Append("ab"); break;
            default: for (int i = 0; i < n; i++) sb.Append("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rng.Next(64)]); break;
        }
        return rng.Next(2) == 0 ? sb.ToString() : "x " + sb + " y";
    }

    private static string Digits(Random rng)
    {
        var sb = new StringBuilder();
        int groups = rng.Next(1, 5);
        for (int g = 0; g < groups; g++)
        {
            int n = rng.Next(1, 12);
            for (int i = 0; i < n; i++) sb.Append((char)('0' + rng.Next(10)));
            sb.Append(Pick(rng, new[] { " ", ".", ",", "", "\n", "  ", "٣", "x" }));
        }
        return sb.ToString();
    }

    private static string Code(Random rng)
    {
        string[] lines =
        [
            "def f(x):", "    return x * 2", "\tif (a && b) {", "\t\tcall(a, b);", "}", "for i in range(10):", "        pass",
            "// comment", "# heading", "x = [1, 2, 3]", "print(\"hi\\n\")", "const s = `${a}`;", "<div class=\"a\">", "</div>",
            "SELECT * FROM t WHERE id = 3;", "    ", "", "\t", "  x  =  y  ", "a->b", "i++", "if x==y:",
        ];
        var sb = new StringBuilder();
        int n = rng.Next(1, 8);
        for (int i = 0; i < n; i++)
        {
            sb.Append(Pick(rng, lines));
            sb.Append(rng.Next(5) == 0 ? "\r\n" : "\n");
        }
        return sb.ToString();
    }

    private static string Mixed(Random rng, IReadOnlyList<string> added)
    {
        var sb = new StringBuilder();
        int n = rng.Next(2, 12);
        for (int i = 0; i < n; i++)
        {
            sb.Append(rng.Next(6) switch
            {
                0 => Pick(rng, Spaces),
                1 => Pick(rng, Punct),
                2 => Pick(rng, Emoji),
                3 => added.Count > 0 ? Pick(rng, added) : "x",
                4 => RandomChars(rng, rng.Next(1, 5)),
                _ => Pick(rng, Words),
            });
        }
        return sb.ToString();
    }
}
