using System.Globalization;
using System.Text;

namespace Cluster.Engine.Benchmarks.Profile;

/// <summary>Prints the decode profile as a Markdown table: each part's median milliseconds and share of the full step.</summary>
internal static class ProfileTable
{
    public const string FullStep = "full step";
    // Counted per layer: the header gives the model's layers (issue #12's model: 48 matrices, 12 attentions, 25 norms).
    public const string LinearLayers = "linear layers (4 matrices a layer)";
    public const string Attention = "attention (every layer)";
    public const string LmHead = "LM head";
    public const string LogitsToHost = "logits to host";
    public const string Sampling = "sampling (greedy)";
    public const string Norms = "  norms (2 RmsNorm a layer, the final one)";
    public const string Rotary = "  rotary (q and k, every layer)";
    public const string ResidualAndGate = "  residual adds, SwiGLU gates";
    public const string StepLayouts = "  step layouts (3)";
    public const string Embedding = "  embedding";
    // Inside the full step, not a part of it beside the others: the caller's wait for its partner threads' shares.
    public const string TeamWait = "  of the full step: waiting for the other kernel threads";

    private static readonly string[] Components = [LinearLayers, Attention, LmHead, LogitsToHost, Sampling];
    private static readonly string[] RestParts = [Norms, Rotary, ResidualAndGate, StepLayouts, Embedding];

    public static void Print(IReadOnlyList<(int Sequences, Dictionary<string, double> Ms)> columns)
    {
        var text = new StringBuilder();
        text.Append("| part |");
        foreach (var (n, _) in columns)
        {
            text.Append(CultureInfo.InvariantCulture, $" {n} seq: ms | share |");
        }
        text.AppendLine();
        text.Append("|---|");
        foreach (var _ in columns)
        {
            text.Append("---:|---:|");
        }
        text.AppendLine();

        void Row(string name, Func<Dictionary<string, double>, double> value)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {name} |");
            foreach (var (_, ms) in columns)
            {
                var v = value(ms);
                text.Append(CultureInfo.InvariantCulture, $" {v:F2} | {100 * v / ms[FullStep]:F1}% |");
            }
            text.AppendLine();
        }

        foreach (var component in Components)
        {
            Row(component, ms => ms[component]);
        }
        Row("rest (full − the above)", Rest);
        foreach (var part in RestParts)
        {
            Row(part, ms => ms[part]);
        }
        Row("  unattributed", ms => Rest(ms) - RestParts.Sum(p => ms[p]));
        Row(FullStep, ms => ms[FullStep]);
        Row(TeamWait, ms => ms[TeamWait]);
        text.Append("| full step ÷ (linear layers + LM head) (target ≤ 1.15) |");
        foreach (var (_, ms) in columns)
        {
            text.Append(CultureInfo.InvariantCulture, $" {ms[FullStep] / (ms[LinearLayers] + ms[LmHead]):F2} | |");
        }
        text.AppendLine();
        Console.WriteLine();
        Console.Write(text);
    }

    private static double Rest(Dictionary<string, double> ms) => ms[FullStep] - Components.Sum(c => ms[c]);
}
