namespace Scalpel.Tensors;

/// <summary>
/// A dense, contiguous, row-major tensor owned by a backend. Model code handles tensors only through
/// <see cref="Backends.IBackend"/>; it never touches their memory, so the same model runs on any backend.
/// </summary>
public abstract class Tensor : IDisposable
{
    protected Tensor(DType dtype, int[] shape)
    {
        long length = 1;
        foreach (int d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(shape));
            length = checked(length * d);
        }
        DType = dtype;
        Shape = shape;
        Length = length;
    }

    public DType DType { get; }
    public int[] Shape { get; }
    public long Length { get; }
    public long ByteLength => DType.StorageBytes(Length);

    /// <summary>Size of the last dimension (row length when viewed as a matrix).</summary>
    public int Columns => Shape.Length == 0 ? 1 : Shape[^1];

    /// <summary>Number of rows when viewed as [Length / Columns, Columns].</summary>
    public int Rows => Columns == 0 ? 0 : checked((int)(Length / Columns));

    public override string ToString() => $"{DType}[{string.Join(", ", Shape)}]";

    public abstract void Dispose();
}
