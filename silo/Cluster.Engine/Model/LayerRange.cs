namespace Cluster.Engine.Model;

/// <summary>A contiguous half-open range of decoder layers, [<see cref="Start"/>, <see cref="End"/>).</summary>
public readonly record struct LayerRange(int Start, int End)
{
    public int Count => End - Start;

    public bool Contains(int layer) => layer >= Start && layer < End;

    public static LayerRange All(int layerCount) => new(0, layerCount);

    /// <summary>
    /// Splits <paramref name="layerCount"/> layers into <paramref name="stageCount"/> contiguous ranges whose
    /// sizes differ by at most one (earlier stages take the remainder).
    /// </summary>
    public static IReadOnlyList<LayerRange> SplitEvenly(int layerCount, int stageCount)
    {
        if (stageCount < 1 || stageCount > layerCount)
        {
            throw new ArgumentOutOfRangeException(nameof(stageCount), $"Cannot split {layerCount} layers into {stageCount} stages: need 1..{layerCount} stages.");
        }
        var ranges = new LayerRange[stageCount];
        var start = 0;
        for (var i = 0; i < stageCount; i++)
        {
            var size = layerCount / stageCount + (i < layerCount % stageCount ? 1 : 0);
            ranges[i] = new LayerRange(start, start + size);
            start += size;
        }
        return ranges;
    }

    public void Validate(int layerCount)
    {
        if (Start < 0 || End > layerCount || Start >= End)
        {
            throw new ArgumentOutOfRangeException(nameof(LayerRange), $"Layer range [{Start}, {End}) is not a non-empty range within the model's {layerCount} layers.");
        }
    }

    public override string ToString() => $"[{Start}, {End})";
}
