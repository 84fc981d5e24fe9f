using System.Text;
using System.Text.RegularExpressions;

namespace Scalpel.IO.Hub;

/// <summary>
/// File selection by glob with Python fnmatch semantics, as huggingface_hub's allow_patterns: <c>*</c> matches any run
/// of characters including '/', <c>?</c> one character, <c>[abc]</c>/<c>[!abc]</c> a set; a pattern ending in '/'
/// matches everything under that folder. Case-sensitive.
/// </summary>
public sealed class HubPatterns
{
    private readonly Regex[] _patterns;

    public HubPatterns(IEnumerable<string>? patterns)
    {
        _patterns = (patterns ?? []).Select(p => p.Trim()).Where(p => p.Length > 0)
            .Select(p => new Regex(Translate(p.EndsWith('/') ? p + "*" : p), RegexOptions.CultureInvariant | RegexOptions.Singleline))
            .ToArray();
    }

    /// <summary>Comma-separated patterns, as the CLI takes them.</summary>
    public static HubPatterns Parse(string? commaSeparated) => new(commaSeparated?.Split(','));

    /// <summary>True when there are no patterns (select everything).</summary>
    public bool IsEmpty => _patterns.Length == 0;

    public bool Matches(string path) => IsEmpty || _patterns.Any(p => p.IsMatch(path));

    /// <summary>fnmatch.translate: the whole name must match.</summary>
    internal static string Translate(string pattern)
    {
        var sb = new StringBuilder("^");
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            switch (c)
            {
                case '*':
                    while (i + 1 < pattern.Length && pattern[i + 1] == '*') i++;
                    sb.Append(".*");
                    break;
                case '?':
                    sb.Append('.');
                    break;
                case '[':
                    int j = i + 1;
                    if (j < pattern.Length && pattern[j] == '!') j++;
                    if (j < pattern.Length && pattern[j] == ']') j++;
                    while (j < pattern.Length && pattern[j] != ']') j++;
                    if (j >= pattern.Length) { sb.Append(@"\["); break; }   // no closing bracket: a literal '['
                    string set = pattern[(i + 1)..j].Replace(@"\", @"\\");
                    i = j;
                    if (set.StartsWith('!')) set = "^" + set[1..];
                    else if (set.StartsWith('^')) set = @"\" + set;
                    sb.Append('[').Append(set).Append(']');
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        return sb.Append(@"\z").ToString();
    }
}
