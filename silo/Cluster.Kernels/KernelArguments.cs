namespace Cluster.Kernels;

/// <summary>The size checks the kernels' entry points share, with one wording: "rows must be at least 0, was -2."</summary>
internal static class KernelArguments
{
    public static void AtLeast(int value, int minimum, string name)
    {
        if (value < minimum)
        {
            throw new ArgumentOutOfRangeException(name, $"{name} must be at least {minimum}, was {value}.");
        }
    }
}
