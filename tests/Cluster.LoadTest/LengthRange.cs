namespace Cluster.LoadTest;

/// <summary>A length in tokens, fixed (<c>Min == Max</c>) or drawn uniformly from [Min, Max] for each request.</summary>
public sealed record LengthRange(int Min, int Max)
{
    public static LengthRange Fixed(int tokens) => new(tokens, tokens);

    public bool IsFixed => Min == Max;

    public int Draw(Random random) => IsFixed ? Min : random.Next(Min, Max + 1);

    public override string ToString() => IsFixed ? Min.ToString() : $"{Min}-{Max}";
}
