using Scalpel.Generation.Constraints;

namespace Scalpel.Server.Inference;

/// <summary>
/// Compiled grammars by key (a schema's JSON text): compiling a schema can take a second, serving it again costs
/// nothing. Holds at most <c>capacity</c>, dropping the least recently used; concurrent requests for one key compile once.
/// A compilation that throws is not kept.
/// </summary>
internal sealed class GrammarCache(int capacity)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, LinkedListNode<(string Key, Lazy<TokenGrammar> Grammar)>> _byKey = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, Lazy<TokenGrammar> Grammar)> _recent = new();    // most recent first

    public int Count
    {
        get { lock (_gate) return _byKey.Count; }
    }

    public TokenGrammar Get(string key, Func<TokenGrammar> compile)
    {
        Lazy<TokenGrammar> lazy;
        lock (_gate)
        {
            if (_byKey.TryGetValue(key, out var node))
            {
                _recent.Remove(node);
                _recent.AddFirst(node);
                lazy = node.Value.Grammar;
            }
            else
            {
                lazy = new Lazy<TokenGrammar>(compile, LazyThreadSafetyMode.ExecutionAndPublication);
                _byKey[key] = _recent.AddFirst((key, lazy));
                while (_byKey.Count > capacity)
                {
                    var last = _recent.Last!;
                    _recent.RemoveLast();
                    _byKey.Remove(last.Value.Key);
                }
            }
        }
        try
        {
            return lazy.Value;
        }
        catch
        {
            lock (_gate)
            {
                if (_byKey.TryGetValue(key, out var node) && ReferenceEquals(node.Value.Grammar, lazy))
                {
                    _recent.Remove(node);
                    _byKey.Remove(key);
                }
            }
            throw;
        }
    }
}
