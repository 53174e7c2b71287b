namespace Cluster.JsonSchemas;

/// <summary>JSON Schema formats that structured outputs enforce, each as an anchored pattern (<see cref="PatternCompiler"/>).</summary>
internal static class StringFormats
{
    /// <summary>
    /// The formats held to their grammar (RFC 3339's date, time and date-time, RFC 4122's uuid, a dot-atom email whose
    /// domain is at most five labels of at most 32 characters, the last of letters (so within RFC 1035's 253), a dotted-quad ipv4), as anchored patterns. Other formats stay
    /// annotations, as JSON Schema 2020-12 defines format.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> Patterns = new Dictionary<string, string>()
    {
        ["date"] = $"^{Date}$",
        ["time"] = $"^{Time}$",
        ["date-time"] = $"^{Date}T{Time}$",
        ["uuid"] = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        ["email"] = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?\\.){1,4}[A-Za-z]{2,24}$",
        ["ipv4"] = "^((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$",
    };

    /// <summary>RFC 3339 full-date: years 0001-9999, each month's days, February 29 in leap years only.</summary>
    private const string Date = "(" + Year + "-(0[13578]|1[02])-(0[1-9]|[12]\\d|3[01])|" + Year + "-(0[469]|11)-(0[1-9]|[12]\\d|30)|"
        + Year + "-02-(0[1-9]|1\\d|2[0-8])|" + LeapYear + "-02-29)";

    private const string Year = "(000[1-9]|00[1-9]\\d|0[1-9]\\d\\d|[1-9]\\d{3})";

    private const string LeapYear = "(\\d\\d(0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26]|0[48])00)";

    /// <summary>RFC 3339 full-time: a time of day, an optional fraction of up to 9 digits, Z or an offset.</summary>
    private const string Time = "([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,9})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)";
}
