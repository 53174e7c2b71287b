namespace Cluster.PeerBenchmark.Gguf;

/// <summary>bfloat16 bit conversions: the upper 16 bits of an IEEE float32.</summary>
public static class BFloat16
{
    /// <summary>Rounds to nearest, ties to even, as PyTorch's <c>.to(torch.bfloat16)</c> does; NaN stays a quiet NaN.</summary>
    public static ushort FromSingle(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }
        var roundingBias = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
