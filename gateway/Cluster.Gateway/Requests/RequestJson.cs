using System.Text.Json;

namespace Cluster.Gateway.Requests;

/// <summary>JSON that a request carries as text (a tool's parameters, a call's arguments), parsed for the chat template.</summary>
internal static class RequestJson
{
    /// <summary>The parsed value, detached from its document.</summary>
    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT naming <paramref name="field"/>: not valid JSON.</exception>
    public static JsonElement Parse(string text, string field)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw InvalidArgument.Error($"{field} is not valid JSON ({e.Message})");
        }
    }
}
