using System.Globalization;
using System.Text;

namespace Cluster.ChatTemplates.Rendering;

/// <summary>
/// Python's strftime for the directives templates use (Llama 3.x: <c>"%d %b %Y"</c>), in the C locale, plus glibc's
/// <c>%-d</c> style that drops the padding. An unknown directive fails rather than printing something else.
/// </summary>
internal static class Strftime
{
    public static string Format(DateTimeOffset time, string format)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            var unpadded = format[i + 1] == '-' && i + 2 < format.Length;
            var directive = format[unpadded ? i + 2 : i + 1];
            i += unpadded ? 2 : 1;
            string Number(int value, int width) => unpadded ? value.ToString(c) : value.ToString(c).PadLeft(width, '0');
            sb.Append(directive switch
            {
                'd' => Number(time.Day, 2),
                'm' => Number(time.Month, 2),
                'Y' => time.Year.ToString(c),
                'y' => Number(time.Year % 100, 2),
                'H' => Number(time.Hour, 2),
                'I' => Number(time.Hour % 12 == 0 ? 12 : time.Hour % 12, 2),
                'M' => Number(time.Minute, 2),
                'S' => Number(time.Second, 2),
                'j' => Number(time.DayOfYear, 3),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'b' => c.DateTimeFormat.GetAbbreviatedMonthName(time.Month),
                'B' => c.DateTimeFormat.GetMonthName(time.Month),
                'a' => c.DateTimeFormat.GetAbbreviatedDayName(time.DayOfWeek),
                'A' => c.DateTimeFormat.GetDayName(time.DayOfWeek),
                '%' => "%",
                _ => throw new Values.TemplateRuntimeError($"strftime_now: unsupported directive '%{directive}'"),
            });
        }
        return sb.ToString();
    }
}
