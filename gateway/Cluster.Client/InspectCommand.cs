using System.CommandLine;
using System.Globalization;
using Cluster.Contracts.Api;

namespace Cluster.Client;

/// <summary>
/// <c>inspect TEXT</c>: how the model's tokenizer splits a text, each token with the bytes and characters it covers,
/// beside the word and character counts of the same text (what each way of splitting would cost).
/// </summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var text = new Argument<string>("text") { Description = "Text to inspect" };
        var model = ModelOption.Create();
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add the model's BOS token" };
        var top = new Option<uint>("--top") { Description = "Most likely tokens per layer (1 to 20)", DefaultValueFactory = _ => 3 };
        var temperature = new Option<float?>("--temperature", "-t") { Description = "Explain the sampler's steps at this temperature (with --top-k and --top-p)" };
        var topK = new Option<int?>("--top-k") { Description = "Top-k for the sampler's steps" };
        var topP = new Option<float?>("--top-p") { Description = "Top-p for the sampler's steps" };
        var layer = new Option<uint?>("--layer") { Description = "The layer whose attention heatmap is drawn (default: the last)" };
        var session = new Option<string?>("--session") { Description = "Inspect this session's conversation, then the text (which may be empty)" };
        var allPositions = new Option<bool>("--all-positions") { Description = "Also the logit lens at every position (texts of at most 64 tokens)" };
        var head = new Option<uint>("--head") { Description = "The attention head drawn", DefaultValueFactory = _ => 0 };
        var command = new Command("inspect", "Look inside the model for a text: its tokens against words and characters, what each layer would predict, the next token")
        {
            text, model, noBos, top, temperature, topK, topP, layer, head, session, allPositions,
        };
        command.SetAction((parse, cancellation) => GatewayConnection.RunAsync(parse, async (client, output) =>
        {
            var request = new InspectRequest
            {
                Model = parse.GetValue(model)!, Text = parse.GetValue(text)!, TopN = parse.GetValue(top),
                SessionId = parse.GetValue(session) ?? "", LensAllPositions = parse.GetValue(allPositions),
            };
            if (parse.GetValue(noBos))
            {
                request.AddSpecialTokens = false;
            }
            if (parse.GetValue(temperature) is not null || parse.GetValue(topK) is not null || parse.GetValue(topP) is not null)
            {
                request.Sampling = new SamplingParameters { TopK = parse.GetValue(topK) ?? 0 };
                if (parse.GetValue(temperature) is { } t)
                {
                    request.Sampling.Temperature = t;
                }
                if (parse.GetValue(topP) is { } p)
                {
                    request.Sampling.TopP = p;
                }
            }
            var response = await client.InspectAsync(request, cancellationToken: cancellation);
            if (response.SessionTokens.Count > 0)
            {
                await output.WriteLineAsync($"session {request.SessionId}: {response.SessionTokens.Count} tokens of history come first (positions 0 to {response.SessionTokens.Count - 1})");
            }
            await output.WriteAsync(Format(response.Tokenization));
            await output.WriteAsync(FormatEmbedding(response));
            await output.WriteAsync(FormatPositions(response.Positions));
            await output.WriteAsync(FormatAttention(response, parse.GetValue(layer), parse.GetValue(head)));
            await output.WriteAsync(FormatLens(response));
            await output.WriteAsync(FormatLensAtEveryPosition(response));
            return 0;
        }));
        return command;
    }

    /// <summary>The summary line, then one line per token: index, id, piece, byte and character span, the text it stands for.</summary>
    public static string Format(Tokenization view)
    {
        var tokens = view.Tokens.Count;
        var words = view.Words.Count;
        var characters = view.Characters.Count;
        var lines = new System.Text.StringBuilder();
        lines.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"{tokens} tokens, {words} words, {characters} characters, {view.Utf8Bytes} UTF-8 bytes: {Ratio(tokens, words)} tokens per word, {Ratio(tokens, characters)} per character"));
        lines.AppendLine("   #       id  piece                 bytes        chars      text");
        for (var i = 0; i < tokens; i++)
        {
            var t = view.Tokens[i];
            lines.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{i,4} {t.Id,8}  {Show.Piece(t.Piece),-20}  {$"[{t.ByteStart},{t.ByteEnd})",-12} {$"[{t.CharStart},{t.CharEnd})",-10} {Show.Piece(t.Text)}{(t.Special ? "  (special)" : "")}"));
        }
        lines.AppendLine("words: " + string.Join(" | ", view.Words.Select(w => w.Text)));
        return lines.ToString();
    }

    /// <summary>Each token's embedding: its length and its nearest tokens in the embedding table, one line per token.</summary>
    public static string FormatEmbedding(InspectResponse response)
    {
        if (response.Embedding.Count == 0)
        {
            return "";
        }
        var lines = new System.Text.StringBuilder();
        lines.AppendLine();
        lines.AppendLine("Embedding (each token's row of the embedding table: its length, its nearest rows by cosine):");
        for (var i = 0; i < response.Embedding.Count; i++)
        {
            var e = response.Embedding[i];
            var nearest = string.Join("  ", e.Nearest.Select(n => string.Create(CultureInfo.InvariantCulture, $"{Show.Piece(n.Text)} {n.Similarity:F2}")));
            lines.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{i,4} {e.Id,8}  {e.Norm,7:F3}  {nearest}"));
        }
        return lines.ToString();
    }

    /// <summary>
    /// How the model encodes positions: rotary (its base, fastest and slowest rotation) or learned, then the similarity
    /// curve at distances 1, 2, 4, … (a fixed query and key for rotary, the position table's rows for learned).
    /// </summary>
    public static string FormatPositions(PositionEncoding? positions)
    {
        var (distances, similarity) = positions?.KindCase switch
        {
            PositionEncoding.KindOneofCase.Rotary => (positions.Rotary.Distances, positions.Rotary.Similarity),
            PositionEncoding.KindOneofCase.Learned => (positions.Learned.Distances, positions.Learned.Similarity),
            _ => (null, null),
        };
        if (distances is null || similarity is null)
        {
            return "";
        }
        var lines = new System.Text.StringBuilder().AppendLine();
        if (positions!.Rotary is { } r)
        {
            lines.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"Positions: rotary, base {r.Base}, {r.Frequencies.Count} frequencies per head (head_dim {r.HeadDim}) from {r.Frequencies[0]:G3} to {r.Frequencies[^1]:G3} rad per token (wavelengths {2 * Math.PI / r.Frequencies[0]:F1} to {2 * Math.PI / r.Frequencies[^1]:G3} tokens)"));
            lines.AppendLine("  similarity of a fixed query and key by distance:");
        }
        else
        {
            lines.AppendLine($"Positions: learned, a vector per position for {positions.Learned.Positions} positions, added to each token's embedding");
            lines.AppendLine("  mean similarity of position vectors by distance:");
        }
        var shown = new List<string>();
        for (var d = 1u; d <= distances[^1]; d *= 2)
        {
            var i = distances.IndexOf(d);
            if (i < 0)
            {
                i = distances.Count(x => x < d); // the nearest distance above: beyond 256 the curve is sampled
            }
            shown.Add(string.Create(CultureInfo.InvariantCulture, $"{distances[i]}: {similarity[i]:F2}"));
        }
        return lines.AppendLine("  " + string.Join("  ", shown)).ToString();
    }

    /// <summary>
    /// One layer and head's attention as a character heatmap: a row per query token, a column per token it may attend
    /// to, shaded by weight (" ░▒▓█" for 0 to 1), each row followed by the token it attends to most.
    /// </summary>
    public static string FormatAttention(InspectResponse response, uint? layerNumber, uint head)
    {
        if (response.Attention.Count == 0)
        {
            return "";
        }
        var layer = layerNumber is { } n ? response.Attention.FirstOrDefault(a => a.Layer == n) : response.Attention[^1];
        var lines = new System.Text.StringBuilder().AppendLine();
        if (layer is null || head >= layer.Heads)
        {
            return lines.AppendLine($"Attention: no layer {layerNumber} head {head} (layers 1 to {response.Attention.Count}, heads 0 to {response.Attention[0].Heads - 1})").ToString();
        }
        lines.AppendLine($"Attention, layer {layer.Layer} head {head} (stage {layer.Stage} on {layer.Silo}), rows from token {layer.FirstRow}:");
        const string Shades = " ░▒▓█";
        var tokens = Positions(response);
        for (var row = 0; row < layer.Rows; row++)
        {
            var weights = layer.Weights.Skip((int)((head * layer.Rows + row) * layer.Columns)).Take((int)layer.Columns).ToArray();
            var cells = new string([.. weights.Select(w => Shades[Math.Min(Shades.Length - 1, (int)(w * Shades.Length))])]);
            var most = Array.IndexOf(weights, weights.Max());
            var query = (int)layer.FirstRow + row;
            lines.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{query,4} {Show.Piece(tokens[query].Text),-12} |{cells}|  most: {most} {Show.Piece(tokens[most].Text)} {weights[most]:F2}"));
        }
        return lines.ToString();
    }

    /// <summary>The logit lens, one line per layer (stage, silo, state norm, top tokens with probabilities), then the next token.</summary>
    public static string FormatLens(InspectResponse response)
    {
        var lines = new System.Text.StringBuilder();
        if (response.LogitLens.Count == 0)
        {
            return "";
        }
        lines.AppendLine();
        lines.AppendLine("Logit lens (what the model would predict after each layer, at the last token):");
        lines.AppendLine("layer  stage  silo                          norm  top");
        foreach (var layer in response.LogitLens)
        {
            lines.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{layer.Layer,5}  {layer.Stage,5}  {layer.Silo,-26} {layer.HiddenNorm,7:F2}  {Tops(layer.Top)}"));
        }
        lines.AppendLine("Next token: " + Tops(response.NextToken));
        if (response.Sampler is { } sampler)
        {
            lines.AppendLine();
            lines.AppendLine("Sampler:");
            lines.AppendLine("  after the repetition penalty: " + Tops(sampler.AfterPenalty));
            lines.AppendLine("  after the temperature:        " + Tops(sampler.AfterTemperature));
            lines.AppendLine(sampler.Greedy
                ? "  greedy: the most likely token, no draw"
                : $"  kept: {sampler.Candidates} candidates, {sampler.KeptAfterMinP} after min-p, {sampler.KeptAfterTopK} after top-k, {sampler.KeptAfterTopP} after top-p");
            lines.AppendLine("  drawn from: " + Tops(sampler.DrawnFrom.Take(10)) + (sampler.DrawnFrom.Count > 10 ? $"  … ({sampler.DrawnFrom.Count} listed)" : ""));
        }
        return lines.ToString();
    }

    /// <summary>
    /// With lens_all_positions: a table of positions × layers, each cell the token the lens ranks first there, so the
    /// layer where each position's prediction settles shows.
    /// </summary>
    public static string FormatLensAtEveryPosition(InspectResponse response)
    {
        if (response.LogitLens.Count == 0 || response.LogitLens[0].Positions.Count == 0)
        {
            return "";
        }
        const int Width = 9;
        static string Cell(string text) => (text.Length > Width - 1 ? text[..(Width - 1)] : text).PadRight(Width);
        var tokens = Positions(response);
        var lines = new System.Text.StringBuilder().AppendLine().AppendLine("Logit lens at every position (the top next token after each layer):");
        lines.AppendLine("   # token        " + string.Concat(response.LogitLens.Select(l => Cell($"L{l.Layer}"))));
        for (var p = 0; p < response.LogitLens[0].Positions.Count; p++)
        {
            var row = string.Concat(response.LogitLens.Select(l => Cell(l.Positions[p].Top.Count > 0 ? Show.Piece(l.Positions[p].Top[0].Text) : "")));
            lines.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{p,4} {Show.Piece(tokens[p].Text),-12} {row}"));
        }
        return lines.ToString();
    }

    /// <summary>Every position's token: the session's history (when one was inspected), then the text's.</summary>
    private static List<InspectedToken> Positions(InspectResponse response) => [.. response.SessionTokens, .. response.Tokenization.Tokens];

    private static string Tops(IEnumerable<TokenProbability> top) =>
        string.Join("  ", top.Select(t => string.Create(CultureInfo.InvariantCulture, $"{Show.Piece(t.Text)} {t.Probability * 100:F1}%")));

    private static string Ratio(int a, int b) => b == 0 ? "-" : ((double)a / b).ToString("F2", CultureInfo.InvariantCulture);
}
