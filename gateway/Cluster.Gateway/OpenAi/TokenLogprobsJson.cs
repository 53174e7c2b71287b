using System.Text;
using System.Text.Json.Nodes;
using Cluster.Contracts.Api;
using Cluster.Tokenizers;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// Log-probabilities in the two shapes OpenAI uses. Chat: <c>{"content": [{token, logprob, bytes, top_logprobs:
/// [{token, logprob, bytes}]}]}</c>. Completions (the legacy shape): parallel arrays <c>tokens</c>,
/// <c>token_logprobs</c>, <c>top_logprobs</c> (one object token → logprob per position) and <c>text_offset</c>.
/// A token's text is its own decoding (special tokens included); its bytes are that text's UTF-8.
/// </summary>
internal sealed class TokenLogprobsJson(OpenAiEndpoint endpoint, CheckpointTokenizer tokenizer)
{
    private readonly JsonArray _content = [];
    private readonly JsonArray _tokens = [];
    private readonly JsonArray _tokenLogprobs = [];
    private readonly JsonArray _topLogprobs = [];
    private readonly JsonArray _textOffsets = [];

    /// <param name="textOffset">Characters of the completion before this message's text.</param>
    public TokenLogprobsJson Add(GenerateResponse message, int textOffset)
    {
        foreach (var token in message.Logprobs)
        {
            var text = TokenText(token.TokenId);
            if (endpoint == OpenAiEndpoint.ChatCompletions)
            {
                var entry = Entry(text, token.Logprob);
                entry["top_logprobs"] = new JsonArray([.. token.Top.Select(top => (JsonNode)Entry(TokenText(top.TokenId), top.Logprob))]);
                _content.Add(entry);
            }
            else
            {
                _tokens.Add(text);
                _tokenLogprobs.Add(token.Logprob);
                var top = new JsonObject();
                foreach (var alternative in token.Top)
                {
                    top.TryAdd(TokenText(alternative.TokenId), alternative.Logprob); // two ids that decode alike: the first, more likely one stays
                }
                _topLogprobs.Add(top);
                _textOffsets.Add(textOffset);
                textOffset += text.Length;
            }
        }
        return this;
    }

    /// <summary>
    /// Completions with <c>echo</c>: the prompt's tokens first, from the first message's prompt_token_ids and
    /// prompt_logprobs (the first token's log-probability and alternatives are null: nothing predicts it); their text
    /// offsets count from the prompt's start.
    /// </summary>
    public void AddPrompt(GenerateResponse message)
    {
        var offset = 0;
        for (var i = 0; i < message.PromptTokenIds.Count; i++)
        {
            var text = TokenText(message.PromptTokenIds[i]);
            _tokens.Add(text);
            var scored = i > 0 && i - 1 < message.PromptLogprobs.Count && float.IsFinite(message.PromptLogprobs[i - 1].Logprob) ? message.PromptLogprobs[i - 1] : null;
            _tokenLogprobs.Add(scored is null ? null : (JsonNode)scored.Logprob);
            JsonObject? top = null;
            if (scored is not null)
            {
                top = [];
                foreach (var alternative in scored.Top)
                {
                    top.TryAdd(TokenText(alternative.TokenId), alternative.Logprob);
                }
            }
            _topLogprobs.Add(top);
            _textOffsets.Add(offset);
            offset += text.Length;
        }
    }

    public JsonObject ToJson() => endpoint == OpenAiEndpoint.ChatCompletions
        ? new JsonObject { ["content"] = _content.DeepClone() }
        : new JsonObject
        {
            ["tokens"] = _tokens.DeepClone(),
            ["token_logprobs"] = _tokenLogprobs.DeepClone(),
            ["top_logprobs"] = _topLogprobs.DeepClone(),
            ["text_offset"] = _textOffsets.DeepClone(),
        };

    private string TokenText(int id) => tokenizer.Decode([id], skipSpecialTokens: false);

    private static JsonObject Entry(string text, float logprob) => new()
    {
        ["token"] = text,
        ["logprob"] = logprob,
        ["bytes"] = new JsonArray([.. Encoding.UTF8.GetBytes(text).Select(b => (JsonNode)(int)b)]),
    };
}
