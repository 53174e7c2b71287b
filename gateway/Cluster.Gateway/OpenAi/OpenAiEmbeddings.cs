using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cluster.Contracts.Api;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// <c>POST /v1/embeddings</c> as the gRPC API's <see cref="EmbedRequest"/> and back. <c>input</c> is a string, an
/// array of strings, an array of token ids, or an array of those; <c>encoding_format</c> "float" or "base64" (little-
/// endian float32, as OpenAI's); <c>dimensions</c> is accepted only as the model's own width (no truncation). The
/// extras <c>pooling</c> ("mean" or "last"), <c>layer</c> and <c>normalize</c> choose what is pooled, as on gRPC.
/// </summary>
internal static class OpenAiEmbeddings
{
    public static (EmbedRequest Request, bool Base64, int? Dimensions) Parse(JsonElement body)
    {
        var json = OpenAiJson.Body(body);
        var request = new EmbedRequest { Model = json.String("model") ?? "" };
        var input = json.Element("input") ?? throw OpenAiError.BadRequest("input is required", "input");
        AddInputs(request, input);
        if (json.Integer("layer", 0, uint.MaxValue) is { } layer)
        {
            request.Layer = (uint)layer;
        }
        request.Pooling = json.String("pooling") switch
        {
            null or "mean" => EmbeddingPooling.Mean,
            "last" => EmbeddingPooling.LastToken,
            var other => throw OpenAiError.BadRequest($"pooling must be \"mean\" or \"last\"; got \"{other}\"", "pooling"),
        };
        if (json.Bool("normalize") is { } normalize)
        {
            request.Normalize = normalize;
        }
        if (json.Bool("add_special_tokens") is { } addSpecial)
        {
            request.AddSpecialTokens = addSpecial;
        }
        var base64 = json.String("encoding_format") switch
        {
            null or "float" => false,
            "base64" => true,
            var other => throw OpenAiError.BadRequest($"encoding_format must be \"float\" or \"base64\"; got \"{other}\"", "encoding_format"),
        };
        var dimensions = json.Integer("dimensions", 1, int.MaxValue) is { } d ? (int)d : (int?)null;
        return (request, base64, dimensions);
    }

    public static JsonObject ToJson(EmbedResponse response, string model, bool base64) => new()
    {
        ["object"] = "list",
        ["data"] = new JsonArray([.. response.Embeddings.Select((e, i) => (JsonNode)new JsonObject
        {
            ["object"] = "embedding",
            ["index"] = i,
            ["embedding"] = base64
                ? Convert.ToBase64String(MemoryMarshal.AsBytes(e.Values.ToArray().AsSpan()))
                : new JsonArray([.. e.Values.Select(v => (JsonNode)v)]),
        })]),
        ["model"] = model,
        ["usage"] = new JsonObject { ["prompt_tokens"] = response.PromptTokens, ["total_tokens"] = response.PromptTokens },
    };

    private static void AddInputs(EmbedRequest request, JsonElement input)
    {
        switch (input.ValueKind)
        {
            case JsonValueKind.String:
                request.Texts.Add(input.GetString()!);
                return;
            case JsonValueKind.Array when input.GetArrayLength() == 0:
                throw OpenAiError.BadRequest("input is an empty array", "input");
            case JsonValueKind.Array when input[0].ValueKind == JsonValueKind.Number:
                request.TokenInputs.Add(new TokenIds { Ids = { OpenAiJson.Ids(input, "input") } });
                return;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in input.EnumerateArray())
                {
                    var field = $"input[{i++}]";
                    switch (item.ValueKind)
                    {
                        case JsonValueKind.String:
                            request.Texts.Add(item.GetString()!);
                            break;
                        case JsonValueKind.Array:
                            request.TokenInputs.Add(new TokenIds { Ids = { OpenAiJson.Ids(item, field) } });
                            break;
                        default:
                            throw OpenAiJson.WrongType(field, "a string or an array of token ids", item);
                    }
                }
                if (request.Texts.Count > 0 && request.TokenInputs.Count > 0)
                {
                    throw OpenAiError.BadRequest("input mixes strings and token id arrays; send one kind per request", "input");
                }
                return;
            default:
                throw OpenAiJson.WrongType("input", "a string, an array of strings, or token ids", input);
        }
    }
}
