using Scalpel.Backends;
using Scalpel.Tensors;

namespace Scalpel.Models;

/// <summary>
/// Named F32 buffers that grow to the largest batch seen and are handed out as row views, so steps of equal or
/// smaller size allocate nothing.
/// </summary>
internal sealed class Workspace(IBackend backend) : IDisposable
{
    private readonly Dictionary<(string, int), Tensor> _buffers = new();

    public Tensor Rows(string key, int rows, int columns)
    {
        if (!_buffers.TryGetValue((key, columns), out var buffer) || buffer.Rows < rows)
        {
            buffer?.Dispose();
            buffer = backend.Allocate(DType.F32, Math.Max(rows, 1), columns);
            _buffers[(key, columns)] = buffer;
        }
        return backend.RowView(buffer, 0, rows);
    }

    public long ByteLength => _buffers.Values.Sum(b => b.ByteLength);

    public void Clear()
    {
        foreach (var b in _buffers.Values) b.Dispose();
        _buffers.Clear();
    }

    public void Dispose() => Clear();
}
