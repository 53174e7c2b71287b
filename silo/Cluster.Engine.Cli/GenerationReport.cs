using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cluster.Engine.Cli;

/// <summary>
/// What <c>generate --json</c> prints: one JSON document (snake_case names, numbers with a decimal point whatever the
/// locale) holding the prompt's tokens, each generated token with its log-probability and alternatives, the text,
/// the finish reason, the usage and the timings. A piece is the vocabulary's spelling of a token (null for an id the
/// tokenizer does not know).
/// </summary>
internal sealed record GenerationReport(
    ReportModel Model,
    IReadOnlyList<ReportToken> PromptTokens,
    IReadOnlyList<ReportGeneratedToken> GeneratedTokens,
    string Text,
    string FinishReason,
    ReportUsage Usage,
    ReportTimings Timings)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        // Pieces and text as they are (Ġ, 한국어), not \uXXXX escapes: the reader is a terminal or a program, not HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        // A masked alternative's log-probability is -inf: written as "-Infinity" rather than failing the whole report.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static GenerationReport? Parse(string json) => JsonSerializer.Deserialize<GenerationReport>(json, Json);
}

internal sealed record ReportModel(string ModelType, int Layers, int VocabularySize, int ContextLength, string Device, string Dtype);

internal sealed record ReportToken(int Id, string? Piece);

internal sealed record ReportAlternative(int Id, string? Piece, float Logprob);

internal sealed record ReportGeneratedToken(int Id, string? Piece, float Logprob, IReadOnlyList<ReportAlternative> Alternatives);

internal sealed record ReportUsage(int PromptTokens, int GeneratedTokens);

internal sealed record ReportTimings(double LoadMs, double TimeToFirstTokenMs, double TotalMs, double DecodeTokensPerSecond);
