using System.Globalization;

namespace Cluster.Engine.Sampling;

/// <summary>The one shape of a bad sampling or stop setting: "wire_name limit; got value." with the property as parameter name.</summary>
internal static class SettingError
{
    public static ArgumentException Invalid(string propertyName, string wireName, string limit, object value) =>
        new($"{wireName} {limit}; got {Convert.ToString(value, CultureInfo.InvariantCulture)}.", propertyName);
}
