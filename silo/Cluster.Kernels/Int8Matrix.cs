using System.Runtime.InteropServices;

namespace Cluster.Kernels;

/// <summary>
/// A weight matrix W (rows = out features, columns = in features) in 8-bit blocks, as llama.cpp's Q8_0 quantizes
/// it: each row in blocks of <see cref="BlockSize"/> columns, each block one fp16 scale d = max|w| / 127 and 32
/// integers q = round(w / d), so w ≈ q·d. 8.5 bits a weight against bf16's 16: a decode step that streams its
/// weights reads 47 % fewer bytes. Columns past the last full block and rows past the last full panel are stored
/// as zeros (q = 0, d = 0), so any shape is accepted.
/// </summary>
/// <remarks>
/// Layout, for <see cref="Int8LinearKernel"/>'s VNNI dot product (each 32-bit lane of one 256-bit load belongs to one
/// row, so 8 rows are summed at once without horizontal sums): rows in panels of <see cref="PanelRows"/>; a panel's
/// blocks one after the other, <see cref="PanelBlockBytes"/> each: for each group g of 4 columns (8 groups),
/// for each row r of the panel, the 4 bytes q[r, 32b + 4g .. +4] + 128 (unsigned, as VPDPBUSD's first operand
/// wants them). The scales sit in their own array: per panel, per block, the 8 rows' fp16 bits.
/// </remarks>
public sealed unsafe class Int8Matrix : IDisposable
{
    /// <summary>Columns per block, one scale each (Q8_0's block).</summary>
    public const int BlockSize = 32;

    /// <summary>Rows interleaved in one panel: one per 32-bit lane of a 256-bit vector.</summary>
    public const int PanelRows = 8;

    /// <summary>Columns of one row that sit together in a panel (one 32-bit lane: VPDPBUSD's four products).</summary>
    internal const int GroupColumns = 4;

    /// <summary>Bytes of one block of one panel: 8 rows × 32 columns.</summary>
    internal const int PanelBlockBytes = PanelRows * BlockSize;

    private byte* _quants;    // Panels × Blocks × PanelBlockBytes
    private ushort* _scales;  // Panels × Blocks × PanelRows fp16 bits

    private Int8Matrix(int rows, int columns)
    {
        Rows = rows;
        Columns = columns;
        Blocks = (columns + BlockSize - 1) / BlockSize;
        Panels = (rows + PanelRows - 1) / PanelRows;
        var quantBytes = (nuint)((long)Panels * Blocks * PanelBlockBytes);
        var scaleBytes = (nuint)((long)Panels * Blocks * PanelRows * sizeof(ushort));
        _quants = (byte*)NativeMemory.AlignedAlloc(quantBytes, 64);
        _scales = (ushort*)NativeMemory.AlignedAlloc(scaleBytes, 64);
        NativeMemory.Fill(_quants, quantBytes, 128); // q = 0 in the padding
        NativeMemory.Clear(_scales, scaleBytes);     // d = 0 in the padding
        Bytes = (long)quantBytes + (long)scaleBytes;
        HugePages.Collapse(_quants, (long)quantBytes); // streamed whole by every decode step
    }

    /// <summary>Out features.</summary>
    public int Rows { get; }

    /// <summary>In features.</summary>
    public int Columns { get; }

    /// <summary>Blocks per row: columns / 32, rounded up.</summary>
    public int Blocks { get; }

    /// <summary>Panels of 8 rows: rows / 8, rounded up.</summary>
    public int Panels { get; }

    /// <summary>Bytes held, quantized values and scales.</summary>
    public long Bytes { get; }

    /// <summary>Whether <see cref="Dispose"/> freed this matrix.</summary>
    public bool IsDisposed => _quants == null;

    internal byte* Quants => _quants != null ? _quants : throw new ObjectDisposedException(nameof(Int8Matrix));

    internal ushort* Scales => _scales;

    /// <summary>
    /// Quantizes <paramref name="weights"/> (rows, columns), row-major fp32, as llama.cpp's reference quantizer of
    /// Q8_0 does: d = max|w| / 127, q = round(w · (1/d)) half away from zero, d stored as fp16.
    /// </summary>
    public static Int8Matrix Quantize(float* weights, int rows, int columns)
    {
        if (rows < 1 || columns < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), $"An int8 matrix needs at least one row and one column, was ({rows}, {columns}).");
        }
        var matrix = new Int8Matrix(rows, columns);
        for (var row = 0; row < rows; row++)
        {
            var source = weights + (long)row * columns;
            for (var block = 0; block < matrix.Blocks; block++)
            {
                var first = block * BlockSize;
                var count = Math.Min(BlockSize, columns - first);
                var max = 0f;
                for (var i = 0; i < count; i++)
                {
                    max = Math.Max(max, Math.Abs(source[first + i]));
                }
                var d = max / 127f;
                var inverse = d != 0f ? 1f / d : 0f;
                matrix.ScaleBits(row, block) = BitConverter.HalfToUInt16Bits((Half)d);
                for (var i = 0; i < count; i++)
                {
                    var q = (int)MathF.Round(source[first + i] * inverse, MidpointRounding.AwayFromZero);
                    *matrix.QuantAddress(row, first + i) = (byte)(q + 128);
                }
            }
        }
        return matrix;
    }

    /// <summary>The stored integer q of (row, column), in [-127, 127].</summary>
    public sbyte Quant(int row, int column) => (sbyte)(*QuantAddress(row, column) - 128);

    /// <summary>The scale d of (row, block), widened from its fp16 exactly.</summary>
    public float Scale(int row, int block) => (float)BitConverter.UInt16BitsToHalf(ScaleBits(row, block));

    /// <summary>W as the kernel multiplies it, q·d, into <paramref name="destination"/> (rows, columns), row-major fp32.</summary>
    public void Dequantize(float* destination)
    {
        for (var row = 0; row < Rows; row++)
        {
            for (var column = 0; column < Columns; column++)
            {
                destination[(long)row * Columns + column] = Quant(row, column) * Scale(row, column / BlockSize);
            }
        }
    }

    private byte* QuantAddress(int row, int column)
    {
        CheckIndex(row, column);
        int panel = row / PanelRows, r = row % PanelRows, block = column / BlockSize, inBlock = column % BlockSize;
        var blockStart = Quants + ((long)panel * Blocks + block) * PanelBlockBytes;
        return blockStart + inBlock / GroupColumns * (PanelRows * GroupColumns) + r * GroupColumns + inBlock % GroupColumns;
    }

    private ref ushort ScaleBits(int row, int block)
    {
        CheckIndex(row, block * BlockSize);
        return ref Scales[((long)(row / PanelRows) * Blocks + block) * PanelRows + row % PanelRows];
    }

    private void CheckIndex(int row, int column)
    {
        if ((uint)row >= (uint)Rows || (uint)column >= (uint)Columns)
        {
            throw new ArgumentOutOfRangeException(nameof(row), $"({row}, {column}) is outside this ({Rows}, {Columns}) matrix.");
        }
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    // Native memory: freed by the finalizer too if an owner forgets, so a lost matrix does not leak 100 MB.
    ~Int8Matrix() => Free();

    private void Free()
    {
        NativeMemory.AlignedFree(_quants);
        NativeMemory.AlignedFree(_scales);
        _quants = null;
        _scales = null;
    }
}
