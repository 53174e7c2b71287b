namespace Cluster.Engine.Tests.Reference;

/// <summary>The reference's own safetensors reader: f16 and bf16 decoding, mixed dtypes, metadata, offsets and size checks.</summary>
public partial class ReferenceModelTests
{
    [Theory]
    [InlineData(0x3C00, 1.0)]
    [InlineData(0xC000, -2.0)]
    [InlineData(0x3555, 0.333251953125)]
    [InlineData(0x7BFF, 65504.0)]
    [InlineData(0x0001, 5.9604644775390625E-08)] // smallest subnormal, 2^-24
    [InlineData(0x03FF, 6.097555160522461E-05)] // largest subnormal, 1023 * 2^-24
    [InlineData(0x0400, 6.103515625E-05)] // smallest normal, 2^-14
    [InlineData(0x0000, 0.0)]
    [InlineData(0x7C00, double.PositiveInfinity)]
    [InlineData(0xFC00, double.NegativeInfinity)]
    public void F16BitsDecode(int bits, double expected) =>
        Assert.Equal(expected, SafeTensorsDecoding.HalfBitsToDouble((ushort)bits));

    [Fact]
    public void F16SpecialsDecode()
    {
        Assert.True(double.IsNaN(SafeTensorsDecoding.HalfBitsToDouble(0x7E00)));
        double negativeZero = SafeTensorsDecoding.HalfBitsToDouble(0x8000);
        Assert.Equal(0.0, negativeZero);
        Assert.True(double.IsNegative(negativeZero));
    }

    [Theory]
    [InlineData(0x3F80, 1.0)]
    [InlineData(0xC040, -3.0)]
    [InlineData(0x4049, 3.140625)]
    [InlineData(0x3E80, 0.25)]
    [InlineData(0x0000, 0.0)]
    [InlineData(0x7F80, double.PositiveInfinity)]
    [InlineData(0x0001, 9.183549615799121E-41)] // subnormal: 2^-133
    public void BF16BitsDecode(int bits, double expected) =>
        Assert.Equal(expected, SafeTensorsDecoding.BFloat16BitsToDouble((ushort)bits));

    [Fact]
    public void ReaderReadsMixedDtypesWithMetadataAndOffsets()
    {
        string dir = NewTempDir();
        try
        {
            string path = Path.Combine(dir, "model.safetensors");
            SafeTensorsWriter.Write(path, new Dictionary<string, RawTensor>
            {
                ["a"] = RawTensor.F32([2, 3], [1, 2, 3, 4, 5, -6.5]),
                ["half"] = RawTensor.Bits16("F16", [2], 0x3C00, 0xC000),
                ["brain"] = RawTensor.Bits16("BF16", [1, 1, 2], 0x4049, 0x3E80),
            }, new Dictionary<string, string> { ["format"] = "pt" });
            var file = SafeTensorsFile.Open(path);
            Assert.Equal("pt", file.Metadata["format"]);
            Assert.Equal(3, file.Entries.Count);
            var a = file.Read("a");
            Assert.Equal([2, 3], a.Shape);
            Assert.Equal([1, 2, 3, 4, 5, -6.5], a.Data);
            Assert.Equal([1.0, -2.0], file.Read("half").Data);
            var brain = file.Read("brain");
            Assert.Equal([1, 1, 2], brain.Shape);
            Assert.Equal([3.140625, 0.25], brain.Data);
            var missing = Assert.Throws<KeyNotFoundException>(() => file.Read("nope"));
            Assert.Contains("'nope'", missing.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void ReaderRejectsSizeMismatch()
    {
        string dir = NewTempDir();
        try
        {
            string path = Path.Combine(dir, "model.safetensors");
            // Claims 3 F32 values but holds 2.
            SafeTensorsWriter.Write(path, new Dictionary<string, RawTensor> { ["x"] = RawTensor.F32([3], [1, 2]) });
            var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));
            Assert.Contains("'x'", error.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
