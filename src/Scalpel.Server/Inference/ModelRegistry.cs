using Scalpel.Adapters;
using Scalpel.Models;

namespace Scalpel.Server.Inference;

/// <summary>A model id the server answers to: the base (no adapter folder) or a PEFT adapter on it.</summary>
public sealed record ServedModel(string Id, string? AdapterDirectory, DateTimeOffset Created, string OwnedBy);

/// <summary>
/// The models <c>/v1/models</c> lists and requests may name. Fine-tuning jobs call <see cref="Register"/> with
/// <c>ft:BASE:SUFFIX:JOBID</c> and the job's adapter folder when they succeed (and, at start, for the jobs of earlier runs).
/// </summary>
public interface IModelRegistry
{
    /// <summary>Serves <paramref name="adapterDirectory"/> (a PEFT adapter of the base) as <paramref name="id"/>; it loads on
    /// first use. Registering the same id and folder again does nothing; the same id for another folder throws.</summary>
    void Register(string id, string adapterDirectory, string ownedBy = "user");

    IReadOnlyList<ServedModel> List();

    ServedModel? Find(string id);
}

/// <summary>
/// Model ids with their adapter folders, and the adapters loaded now. Adapters load on first use
/// (<see cref="PeftAdapter.LoadDetached"/> onto the shared base) and at most <c>maxLoaded</c> stay loaded: past that the
/// least recently used one that no running request holds is unloaded. A request holds its adapter through a
/// <see cref="Lease"/> until its sequences have left the decoder, so an adapter is never freed under a running batch.
/// </summary>
public sealed class ModelRegistry : IModelRegistry, IDisposable
{
    private readonly DecoderModel _model;
    private readonly int _maxLoaded;
    private readonly object _gate = new();
    private readonly SemaphoreSlim _loading = new(1, 1);
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<Entry> _order = [];                       // registration order, for listing
    private long _clock;

    internal sealed class Entry(ServedModel model)
    {
        public ServedModel Model { get; } = model;
        public AdapterWeights? Weights;
        public int Users;
        public long LastUsed;
    }

    public ModelRegistry(DecoderModel model, ServedModel baseModel, int maxLoaded)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLoaded);
        _model = model;
        _maxLoaded = maxLoaded;
        BaseId = baseModel.Id;
        Add(baseModel);
    }

    public string BaseId { get; }

    public void Register(string id, string adapterDirectory, string ownedBy = "user")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        if (!Directory.Exists(adapterDirectory)) throw new DirectoryNotFoundException($"{adapterDirectory}: no such adapter folder");
        string full = Path.GetFullPath(adapterDirectory);
        lock (_gate)
        {
            if (_entries.TryGetValue(id, out var existing))
            {
                if (existing.Model.AdapterDirectory == full) return;
                throw new ArgumentException($"model id '{id}' is already served from {existing.Model.AdapterDirectory ?? "the base model"}");
            }
            Add(new ServedModel(id, full, new DateTimeOffset(Directory.GetLastWriteTimeUtc(full), TimeSpan.Zero), ownedBy));
        }
    }

    private void Add(ServedModel model)
    {
        var entry = new Entry(model);
        _entries[model.Id] = entry;
        _order.Add(entry);
    }

    public IReadOnlyList<ServedModel> List()
    {
        lock (_gate) return _order.Select(e => e.Model).ToList();
    }

    public ServedModel? Find(string id)
    {
        lock (_gate) return _entries.GetValueOrDefault(id)?.Model;
    }

    /// <summary>Adapters loaded now (for tests and diagnostics).</summary>
    internal IReadOnlyList<string> Loaded()
    {
        lock (_gate) return _order.Where(e => e.Weights is not null).Select(e => e.Model.Id).ToList();
    }

    /// <summary>
    /// The model <paramref name="id"/> for one request, its adapter loaded; null when no model has that id. Dispose the
    /// lease once the request's sequences are finished (not merely abandoned).
    /// </summary>
    public async Task<Lease?> Acquire(string id, CancellationToken cancellationToken)
    {
        Entry? entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(id, out entry)) return null;
            if (entry.Model.AdapterDirectory is null || entry.Weights is not null) return Take(entry);
        }
        // One load at a time: two requests for a cold adapter load it once.
        await _loading.WaitAsync(cancellationToken);
        try
        {
            lock (_gate)
            {
                if (entry.Weights is not null) return Take(entry);
            }
            var weights = PeftAdapter.LoadDetached(_model, entry.Model.AdapterDirectory, entry.Model.Id);
            List<AdapterWeights> evicted;
            Lease lease;
            lock (_gate)
            {
                entry.Weights = weights;
                lease = Take(entry);
                evicted = EvictBeyondLimit();
            }
            foreach (var w in evicted) w.Dispose();
            return lease;
        }
        finally
        {
            _loading.Release();
        }
    }

    private Lease Take(Entry entry)
    {
        entry.Users++;
        entry.LastUsed = ++_clock;
        return new Lease(this, entry);
    }

    private void Release(Entry entry)
    {
        List<AdapterWeights> evicted;
        lock (_gate)
        {
            entry.Users--;
            evicted = EvictBeyondLimit();
        }
        foreach (var w in evicted) w.Dispose();
    }

    /// <summary>Unloads least recently used idle adapters while more than the limit are loaded; call under the lock.</summary>
    private List<AdapterWeights> EvictBeyondLimit()
    {
        var evicted = new List<AdapterWeights>();
        var loaded = _order.Where(e => e.Weights is not null).ToList();
        foreach (var victim in loaded.Where(e => e.Users == 0).OrderBy(e => e.LastUsed))
        {
            if (loaded.Count - evicted.Count <= _maxLoaded) break;
            evicted.Add(victim.Weights!);
            victim.Weights = null;
        }
        return evicted;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var e in _order)
            {
                e.Weights?.Dispose();
                e.Weights = null;
            }
        }
        _loading.Dispose();
    }

    /// <summary>One request's hold on a model: its adapter (null for the base) stays loaded until disposed.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly ModelRegistry _owner;
        private readonly Entry _entry;
        private int _disposed;

        internal Lease(ModelRegistry owner, Entry entry)
        {
            _owner = owner;
            _entry = entry;
            Adapter = entry.Weights;
        }

        public ServedModel Model => _entry.Model;
        public AdapterWeights? Adapter { get; }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) _owner.Release(_entry);
        }
    }
}
