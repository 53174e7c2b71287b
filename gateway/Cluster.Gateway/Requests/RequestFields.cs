namespace Cluster.Gateway.Requests;

/// <summary>
/// Limits on the identifier fields every call may carry. They bound what a request can make the gateway store, send
/// to a grain (a session id is a grain key) or echo back in an error message (an echoed megabyte would not fit the
/// HTTP/2 trailer that carries the status).
/// </summary>
public static class RequestFields
{
    /// <summary>Model names are short deployment names.</summary>
    public const int MaxModelLength = 256;

    /// <summary>Session ids are 32 hex characters (CreateSession); the limit leaves room, nothing more.</summary>
    public const int MaxSessionIdLength = 128;

    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT when the name is too long.</exception>
    public static string Model(string model) =>
        model.Length <= MaxModelLength
            ? model
            : throw InvalidArgument.Error($"model is {model.Length} characters long; at most {MaxModelLength} are allowed");

    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT when the id is too long.</exception>
    public static string SessionId(string sessionId) =>
        sessionId.Length <= MaxSessionIdLength
            ? sessionId
            : throw InvalidArgument.Error($"session_id is {sessionId.Length} characters long; at most {MaxSessionIdLength} are allowed");
}
