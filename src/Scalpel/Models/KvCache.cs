using Scalpel.Backends;
using Scalpel.Tensors;

namespace Scalpel.Models;

/// <summary>
/// Keys and values of every layer for a fixed number of sequences ("slots"), each up to <see cref="MaxLength"/>
/// tokens: slot s owns cache rows [s·MaxLength, (s + 1)·MaxLength) of each layer's [Sequences·MaxLength, kvHeads·headDim]
/// tensor. Keys are stored after RoPE, so a cached token is never touched again. Created by
/// <see cref="DecoderModel.CreateKvCache"/>; filled by <see cref="DecoderModel.ForwardCached"/>.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly int[] _lengths;

    internal KvCache(IBackend backend, ModelSpec spec, int sequences, int maxLength)
    {
        Sequences = sequences;
        MaxLength = maxLength;
        _lengths = new int[sequences];
        int kvDim = spec.NumKvHeads * spec.HeadDim;
        Keys = new Tensor[spec.NumLayers];
        Values = new Tensor[spec.NumLayers];
        for (int l = 0; l < spec.NumLayers; l++)
        {
            Keys[l] = backend.Allocate(DType.F32, sequences * maxLength, kvDim);
            Values[l] = backend.Allocate(DType.F32, sequences * maxLength, kvDim);
        }
    }

    public int Sequences { get; }
    public int MaxLength { get; }
    internal Tensor[] Keys { get; }
    internal Tensor[] Values { get; }

    /// <summary>Bytes a cache of this size takes, to check a limit before allocating one.</summary>
    public static long BytesFor(ModelSpec spec, int sequences, int maxLength) =>
        2L * spec.NumLayers * sequences * maxLength * spec.NumKvHeads * spec.HeadDim * sizeof(float);

    public long ByteLength => Keys.Sum(k => k.ByteLength) + Values.Sum(v => v.ByteLength);

    /// <summary>Tokens cached for a sequence.</summary>
    public int Length(int sequence) => _lengths[sequence];

    /// <summary>Forgets a sequence's tokens after the first <paramref name="length"/> (0 frees the slot for a new sequence).</summary>
    public void Truncate(int sequence, int length)
    {
        if (length < 0 || length > _lengths[sequence])
            throw new ArgumentOutOfRangeException(nameof(length), $"sequence {sequence} has {_lengths[sequence]} cached tokens, cannot keep {length}");
        _lengths[sequence] = length;
    }

    internal void Advance(int sequence, int tokens) => _lengths[sequence] += tokens;

    public void Dispose()
    {
        foreach (var t in Keys) t.Dispose();
        foreach (var t in Values) t.Dispose();
    }
}

/// <summary>Tokens to append to one cached sequence.</summary>
public readonly record struct CacheAppend(int Sequence, int[] Tokens);
