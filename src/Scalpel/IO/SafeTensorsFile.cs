using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using Scalpel.Tensors;

namespace Scalpel.IO;

/// <summary>
/// A memory-mapped .safetensors file. The header is validated before anything is trusted: size limit, JSON shape,
/// known dtypes, offsets inside the data section, no overlaps, shape × dtype size = byte length.
/// Tensor bytes are read lazily from the mapping.
/// </summary>
/// <remarks>
/// Tensors of a dtype Scalpel does not load (F64, I64, U8, BOOL, F8_*, ...) pass validation and are listed in
/// <see cref="UnsupportedTensors"/> rather than <see cref="Tensors"/>; reading one is an error that names its dtype.
/// Gaps between tensors are tolerated (the reference reader insists on a fully covered data section); overlaps are not.
/// Reads may run concurrently; <see cref="Dispose"/> must not.
/// </remarks>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the reference implementation's limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly Dictionary<string, SafeTensorsEntry> _entries;
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private byte* _base;

    private SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer,
        long dataSectionOffset, List<SafeTensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePointer;
        DataSectionOffset = dataSectionOffset;
        _entries = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        Tensors = entries.Where(e => e.DType is not null).ToDictionary(e => e.Name, e => e.ToInfo(), StringComparer.Ordinal);
        UnsupportedTensors = entries.Where(e => e.DType is null).ToDictionary(e => e.Name, e => e.DTypeName, StringComparer.Ordinal);
        Metadata = metadata;
    }

    public string Path { get; }

    /// <summary>The tensors Scalpel can read (F32, BF16, F16), by name.</summary>
    public IReadOnlyDictionary<string, TensorInfo> Tensors { get; }

    /// <summary>Tensors whose dtype is valid safetensors but not readable as floats here: name → dtype as the header spells it.</summary>
    public IReadOnlyDictionary<string, string> UnsupportedTensors { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor name in the header, readable or not, in data-offset order.</summary>
    public IEnumerable<string> TensorNames => _entries.Keys;

    /// <summary>Byte position of the data section in the file (8 + header length); add <see cref="TensorInfo.DataOffset"/> for a tensor's.</summary>
    public long DataSectionOffset { get; }

    public static SafeTensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors files are little-endian; this machine is not");
        path = System.IO.Path.GetFullPath(path);

        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            long fileLength = stream.Length;
            if (fileLength < 8)
                throw SafeTensorsHeader.Fail(path, $"file is {fileLength} bytes, too short for the 8-byte header length");

            Span<byte> prefix = stackalloc byte[8];
            stream.ReadExactly(prefix);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > MaxHeaderBytes)
                throw SafeTensorsHeader.Fail(path, $"header length {headerLength} is over the {MaxHeaderBytes}-byte limit");
            if (headerLength > (ulong)(fileLength - 8))
                throw SafeTensorsHeader.Fail(path, $"header length {headerLength} runs past the end of the file ({fileLength} bytes)");

            // The header is read with ordinary I/O so a bad one is rejected before anything is mapped.
            var header = new byte[(int)headerLength];
            stream.ReadExactly(header);
            long dataStart = 8 + (long)headerLength;
            var (entries, metadata) = SafeTensorsHeader.Parse(header, fileLength - dataStart, path);

            // The mapping owns the stream from here on.
            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            return new SafeTensorsFile(path, map, view, pointer + view.PointerOffset, dataStart, entries, metadata);
        }
        catch
        {
            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>The tensor's header entry; throws naming the file and tensor when it is missing or of a dtype Scalpel does not load.</summary>
    public TensorInfo Info(string name) => Readable(name).ToInfo();

    /// <summary>Reads a tensor as F32 (BF16/F16 widened). destination.Length must equal the element count.</summary>
    public void ReadAsF32(string name, Span<float> destination)
    {
        CheckDestination(Readable(name), destination.Length);
        ReadAsF32(name, 0, destination);
    }

    /// <summary>Reads a tensor as BF16 bits (F32/F16 rounded to nearest-even).</summary>
    public void ReadAsBF16(string name, Span<ushort> destination)
    {
        CheckDestination(Readable(name), destination.Length);
        ReadAsBF16(name, 0, destination);
    }

    /// <summary>Reads elements [start, start + destination.Length) of a tensor as F32: loading a large tensor in pieces.</summary>
    public void ReadAsF32(string name, long start, Span<float> destination)
    {
        var (entry, source) = Range(name, start, destination.Length);
        fixed (float* d = destination)
            if (!destination.IsEmpty) SafeTensorsConversions.ToF32(entry.DType!.Value, (byte*)source, d, destination.Length);
        ReleasePages(entry, start, destination.Length);
    }

    /// <summary>Reads elements [start, start + destination.Length) of a tensor as BF16 bits.</summary>
    public void ReadAsBF16(string name, long start, Span<ushort> destination)
    {
        var (entry, source) = Range(name, start, destination.Length);
        fixed (ushort* d = destination)
            if (!destination.IsEmpty) SafeTensorsConversions.ToBF16(entry.DType!.Value, (byte*)source, d, destination.Length);
        ReleasePages(entry, start, destination.Length);
    }

    public void Dispose()
    {
        if (_view is null) return;
        _base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map?.Dispose();
        _view = null;
        _map = null;
    }

    private SafeTensorsEntry Readable(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!_entries.TryGetValue(name, out SafeTensorsEntry? entry))
            throw SafeTensorsHeader.Fail(Path, name, "no such tensor in this file");
        if (entry.DType is null)
            throw SafeTensorsHeader.Fail(Path, name, $"dtype {entry.DTypeName} cannot be read as floats (Scalpel reads F32, BF16 and F16)");
        return entry;
    }

    private void CheckDestination(SafeTensorsEntry entry, int length)
    {
        if (length != entry.ElementCount)
            throw new ArgumentException(
                $"tensor '{entry.Name}' in '{Path}' has {entry.ElementCount} elements but the destination holds {length}", "destination");
    }

    /// <summary>The entry and the address of its element <paramref name="start"/>, once [start, start + length) is checked to lie inside it.</summary>
    private (SafeTensorsEntry Entry, nint Source) Range(string name, long start, int length)
    {
        SafeTensorsEntry entry = Readable(name);
        if (start < 0 || start + length > entry.ElementCount)
            throw new ArgumentOutOfRangeException(nameof(start),
                $"elements [{start}, {start + length}) are outside tensor '{entry.Name}' in '{Path}' ({entry.ElementCount} elements)");
        return (entry, (nint)(DataPointer(entry) + start * entry.DType!.Value.SizeOf()));
    }

    /// <summary>
    /// Drops the pages of a range just read from this process's mapping (madvise DONTNEED on Linux). A read-only
    /// file mapping keeps every page it touched resident, so loading a model would otherwise count the whole file in
    /// the process's memory until the reader closes; the kernel's page cache still holds the data.
    /// </summary>
    private void ReleasePages(SafeTensorsEntry entry, long start, long count)
    {
        if (!OperatingSystem.IsLinux() || count == 0) return;
        long page = Environment.SystemPageSize;
        long size = entry.DType!.Value.SizeOf();
        long first = (long)DataPointer(entry) + start * size, last = first + count * size;
        long alignedFirst = (first + page - 1) / page * page, alignedLast = last / page * page;   // whole pages only
        if (alignedLast > alignedFirst) _ = Madvise((void*)alignedFirst, (nuint)(alignedLast - alignedFirst), MadviseDontNeed);
    }

    private const int MadviseDontNeed = 4;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);

    private byte* DataPointer(SafeTensorsEntry entry)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        return _base + DataSectionOffset + entry.Begin;
    }
}
