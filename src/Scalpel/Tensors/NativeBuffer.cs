using System.Runtime.InteropServices;

namespace Scalpel.Tensors;

/// <summary>
/// A block of 64-byte aligned native memory. Large tensors live here rather than in managed arrays so the GC
/// never moves or scans them and SIMD loads stay aligned.
/// </summary>
public sealed unsafe class NativeBuffer : IDisposable
{
    public const int Alignment = 64;
    private void* _pointer;

    public NativeBuffer(long byteLength, bool zero = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        ByteLength = byteLength;
        nuint size = (nuint)Math.Max(byteLength, 1);
        _pointer = NativeMemory.AlignedAlloc(size, Alignment);
        if (zero) NativeMemory.Clear(_pointer, size);
        if (byteLength > 0) GC.AddMemoryPressure(byteLength);
    }

    public long ByteLength { get; }

    public void* Pointer => _pointer != null ? _pointer : throw new ObjectDisposedException(nameof(NativeBuffer));

    public Span<T> AsSpan<T>() where T : unmanaged
    {
        long count = ByteLength / sizeof(T);
        if (count > int.MaxValue) throw new InvalidOperationException($"buffer of {count} elements is too large for one span");
        return new Span<T>(Pointer, (int)count);
    }

    public void Dispose()
    {
        if (_pointer == null) return;
        NativeMemory.AlignedFree(_pointer);
        _pointer = null;
        if (ByteLength > 0) GC.RemoveMemoryPressure(ByteLength);
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer() => Dispose();
}
