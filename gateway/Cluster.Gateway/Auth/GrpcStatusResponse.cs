using System.Globalization;
using System.Text;
using Grpc.Core;

namespace Cluster.Gateway.Auth;

/// <summary>
/// Answers an HTTP request with a gRPC status and no message ("trailers-only"): how a call refused before it reaches
/// gRPC (authentication runs before the request is read) still gets a proper status and message, not HTTP 401.
/// </summary>
internal static class GrpcStatusResponse
{
    public static Task WriteAsync(HttpResponse response, StatusCode code, string message)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)code).ToString(CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = PercentEncode(message);
        return Task.CompletedTask;
    }

    /// <summary>The gRPC spec's encoding for grpc-message: printable ASCII except '%' as is, every other UTF-8 byte as %XX.</summary>
    private static string PercentEncode(string message)
    {
        var encoded = new StringBuilder(message.Length);
        foreach (byte b in Encoding.UTF8.GetBytes(message))
        {
            if (b is >= 0x20 and <= 0x7E && b != (byte)'%')
            {
                encoded.Append((char)b);
            }
            else
            {
                encoded.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }
        return encoded.ToString();
    }
}
