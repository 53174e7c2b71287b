using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace Cluster.Gateway.Admission;

/// <summary>
/// <c>RESOURCE_EXHAUSTED</c> with a retry hint, in the two forms clients look for: a <c>google.rpc.RetryInfo</c> detail
/// (the gRPC richer error model, read with <c>Grpc.StatusProto</c>'s <c>GetRpcStatus()</c>) and a plain
/// <c>retry-after-ms</c> trailer for clients that do not parse details. Every refusal for lack of room uses it, so a
/// client's back-off never has to parse a message.
/// </summary>
public static class Overloaded
{
    /// <summary>Trailer with the suggested wait in whole milliseconds.</summary>
    public const string RetryAfterTrailer = "retry-after-ms";

    public static RpcException Exception(string message, TimeSpan retryAfter)
    {
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.ResourceExhausted,
            Message = message,
            Details = { Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(retryAfter) }) },
        };
        var exception = status.ToRpcException();
        exception.Trailers.Add(RetryAfterTrailer, ((long)Math.Ceiling(retryAfter.TotalMilliseconds)).ToString(System.Globalization.CultureInfo.InvariantCulture));
        return exception;
    }

    /// <summary>The hint a refused call carries, from either form; null when it has none.</summary>
    public static TimeSpan? RetryAfter(RpcException exception)
    {
        if (exception.GetRpcStatus()?.GetDetail<RetryInfo>() is { RetryDelay: { } delay })
        {
            return delay.ToTimeSpan();
        }
        return exception.Trailers.GetValue(RetryAfterTrailer) is { } ms && long.TryParse(ms, out var value)
            ? TimeSpan.FromMilliseconds(value)
            : null;
    }
}
