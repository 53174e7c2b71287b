using System.Text.Json;
using System.Text.Json.Nodes;
using Cluster.Contracts.Api;
using Cluster.Gateway.Models;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Services;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// vLLM's tokenizer endpoints beside the OpenAI API (at the server's root, as vLLM serves them): <c>POST /tokenize</c>
/// (a prompt, or chat messages rendered with the model's template), <c>POST /detokenize</c> and
/// <c>GET /tokenizer_info</c>. lm-evaluation-harness and other tools that count tokens against the server they
/// evaluate use them (its "remote" tokenizer), so they need no copy of the checkpoint's tokenizer. The same tokenizer,
/// limits and API keys as the gRPC API's Tokenize and Detokenize.
/// </summary>
internal static class TokenizerEndpoints
{
    public static RouteGroupBuilder MapTokenizer(this RouteGroupBuilder root)
    {
        root.MapPost("/tokenize", TokenizeAsync);
        root.MapPost("/detokenize", DetokenizeAsync);
        root.MapGet("/tokenizer_info", InfoAsync);
        return root;
    }

    /// <summary>
    /// <c>{"prompt": "..."}</c> (add_special_tokens true unless given) or <c>{"messages": [...]}</c> (rendered with
    /// add_generation_prompt, as chat sends them) → <c>{"count", "max_model_len", "tokens", "token_strs"}</c>.
    /// </summary>
    private static async Task TokenizeAsync(HttpContext http, ModelCatalog catalog, IOptions<GatewayOptions> options)
    {
        await OpenAiEndpoints.RespondAsync(http, null, async () =>
        {
            var json = OpenAiJson.Body(await OpenAiEndpoints.ReadBodyAsync(http, options.Value.MaxRequestBytes));
            var model = await catalog.GetAsync(RequestFields.Model(json.String("model") ?? ""), http.RequestAborted);
            IReadOnlyList<int> ids;
            if (json.Has("messages"))
            {
                var messages = OpenAiRequest.Messages(json);
                var chat = ChatPrompt.Required(model.Chat, model.Name);
                ids = ChatPrompt.Tokenize(messages, chat, ChatTools.Check(messages, chat, model.Name), model.Name, model.Tokenizer, model.Limits);
            }
            else
            {
                var request = new TokenizeRequest { Text = json.String("prompt") ?? throw OpenAiError.BadRequest("prompt or messages is required", "prompt") };
                if (json.Bool("add_special_tokens") is { } addSpecial)
                {
                    request.AddSpecialTokens = addSpecial;
                }
                ids = TokenizerRequestValidator.Tokenize(request, model.Tokenizer, model.Limits);
            }
            await http.Response.WriteAsJsonAsync(new JsonObject
            {
                ["count"] = ids.Count,
                ["max_model_len"] = model.Limits.ContextLength,
                ["tokens"] = new JsonArray([.. ids.Select(id => (JsonNode)id)]),
                ["token_strs"] = json.Bool("return_token_strs") == true ? new JsonArray([.. ids.Select(id => (JsonNode)model.Tokenizer.TokenPiece(id))]) : null,
            }, http.RequestAborted);
        });
    }

    /// <summary><c>{"tokens": [...]}</c> → <c>{"prompt": "..."}</c>, special tokens written out as the model's text has them.</summary>
    private static async Task DetokenizeAsync(HttpContext http, ModelCatalog catalog, IOptions<GatewayOptions> options)
    {
        await OpenAiEndpoints.RespondAsync(http, null, async () =>
        {
            var json = OpenAiJson.Body(await OpenAiEndpoints.ReadBodyAsync(http, options.Value.MaxRequestBytes));
            var model = await catalog.GetAsync(RequestFields.Model(json.String("model") ?? ""), http.RequestAborted);
            var request = new DetokenizeRequest { SkipSpecialTokens = false };
            request.TokenIds.AddRange(json.Element("tokens") is { ValueKind: JsonValueKind.Array } tokens
                ? OpenAiJson.Ids(tokens, "tokens")
                : throw OpenAiError.BadRequest("tokens is required: an array of token ids", "tokens"));
            var text = TokenizerRequestValidator.Detokenize(request, model.Tokenizer, model.Limits);
            await http.Response.WriteAsJsonAsync(new JsonObject { ["prompt"] = text }, http.RequestAborted);
        });
    }

    /// <summary>The tokenizer's special tokens, chat template and context length (<c>?model=</c> picks a model; the default otherwise).</summary>
    private static async Task InfoAsync(HttpContext http, ModelCatalog catalog, string? model)
    {
        await OpenAiEndpoints.RespondAsync(http, null, async () =>
        {
            var served = await catalog.GetAsync(RequestFields.Model(model ?? ""), http.RequestAborted);
            var named = served.Tokenizer.NamedSpecialTokens;
            await http.Response.WriteAsJsonAsync(new JsonObject
            {
                ["eos_token"] = named.GetValueOrDefault("eos_token"),
                ["bos_token"] = named.GetValueOrDefault("bos_token"),
                ["pad_token"] = named.GetValueOrDefault("pad_token"),
                ["unk_token"] = named.GetValueOrDefault("unk_token"),
                ["chat_template"] = served.Chat?.Template.Source,
                ["model_max_length"] = served.Limits.ContextLength,
            }, http.RequestAborted);
        });
    }
}
