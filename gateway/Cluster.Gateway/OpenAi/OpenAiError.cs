using System.Globalization;
using System.Text.Json.Nodes;
using Cluster.Gateway.Admission;
using Grpc.Core;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// An error in OpenAI's shape, <c>{"error": {"message", "type", "param", "code"}}</c>, with its HTTP status and, for
/// a 429 that may pass later, the wait (<c>Retry-After</c> in whole seconds, and <c>retry-after-ms</c> as the OpenAI
/// SDKs read it). The gRPC path's refusals (<see cref="RpcException"/>) map onto it in <see cref="FromRpc"/>, so both
/// front doors refuse the same requests for the same reasons.
/// </summary>
internal sealed class OpenAiError(int status, string message, string type, string? param = null, string? code = null, TimeSpan? retryAfter = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public TimeSpan? RetryAfter { get; } = retryAfter;

    public static OpenAiError BadRequest(string message, string? param) => new(400, message, "invalid_request_error", param);

    public static OpenAiError Unauthorized(string message) => new(401, message, "authentication_error", code: "invalid_api_key");

    public static OpenAiError Draining() => new(503, "The gateway is shutting down; retry on another one.", "service_unavailable");

    /// <summary>
    /// A refusal of the shared request path as OpenAI clients expect it. <paramref name="fieldNames"/> renames the gRPC
    /// API's field names in the message (INVALID_ARGUMENT names the field first) to the ones this request used.
    /// </summary>
    public static OpenAiError FromRpc(RpcException refused, Func<string, string> fieldNames)
    {
        var message = refused.Status.Detail;
        return refused.StatusCode switch
        {
            StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.OutOfRange =>
                BadRequest(fieldNames(message), LeadingField(fieldNames(message))),
            StatusCode.NotFound => new(404, message, "invalid_request_error", "model", "model_not_found"),
            StatusCode.Unauthenticated => Unauthorized(message),
            StatusCode.PermissionDenied => new(403, message, "permission_error"),
            StatusCode.ResourceExhausted => new(429, fieldNames(message), "rate_limit_error", code: "rate_limit_exceeded", retryAfter: Overloaded.RetryAfter(refused)),
            StatusCode.Unavailable => new(503, message, "service_unavailable"),
            StatusCode.DeadlineExceeded => new(504, message, "timeout"),
            _ => new(500, message, "server_error"),
        };
    }

    public JsonObject ToJson() => new()
    {
        ["error"] = new JsonObject
        {
            ["message"] = Message,
            ["type"] = Type,
            ["param"] = Param,
            ["code"] = Code,
        },
    };

    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        if (RetryAfter is { } wait)
        {
            response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            response.Headers[Overloaded.RetryAfterTrailer] = ((long)Math.Ceiling(wait.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
        }
        await response.WriteAsJsonAsync(ToJson());
    }

    /// <summary>"temperature must be ..." → "temperature"; "stop[2] is empty" → "stop"; null when the message starts otherwise.</summary>
    private static string? LeadingField(string message)
    {
        var end = 0;
        while (end < message.Length && (char.IsAsciiLetterLower(message[end]) || message[end] is '_' or '.'))
        {
            end++;
        }
        var field = message[..end].TrimEnd('.');
        foreach (var parent in (string[])["response_format", "tool_choice", "structured_outputs", "text"])
        {
            if (field.StartsWith(parent + ".", StringComparison.Ordinal))
            {
                field = parent; // response_format.json_schema.schema at /properties/x: ...
            }
        }
        return field is "max_tokens" or "max_completion_tokens" or "max_output_tokens" or "text" or "temperature" or "top_p" or "top_k" or "min_p" or "repetition_penalty"
            or "presence_penalty" or "frequency_penalty" or "logit_bias" or "response_format" or "tools" or "tool_choice"
            or "guided_json" or "guided_regex" or "guided_choice" or "structured_outputs"
            or "seed" or "stop" or "stop_token_ids" or "logprobs" or "top_logprobs" or "prompt" or "messages" or "input" or "layer" or "pooling"
            ? field
            : null;
    }
}
