using Cluster.Gateway.Auth;
using Google.Protobuf;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Grpc.JsonTranscoding;
using Microsoft.AspNetCore.Http.Metadata;

namespace Cluster.Gateway.Services;

/// <summary>
/// The HTTP/JSON door onto the Generation service (what the inspection page calls): gRPC JSON transcoding of the
/// routes the .proto declares with google.api.http (<c>POST /api/v1/inspect</c>, <c>/api/v1/tokenize</c>,
/// <c>/api/v1/generate</c>, <c>GET /api/v1/models</c>). Transcoding, not hand-written endpoints: a route runs the very
/// <see cref="GenerationService"/> method gRPC runs, on the request message parsed by Protobuf's JSON mapping, so the
/// validation, the status codes and the API-key policy (the endpoints come from the same MapGrpcService) are one, and
/// no field is mapped by hand. Generate streams one JSON message per line. Errors are <c>google.rpc.Status</c> as JSON,
/// <c>{"code", "message"}</c>, with the HTTP status transcoding maps the gRPC code to (INVALID_ARGUMENT 400, NOT_FOUND
/// 404, RESOURCE_EXHAUSTED 429, ...).
/// </summary>
internal static class HttpJsonRoutes
{
    public static IGrpcServerBuilder AddHttpJsonRoutes(this IGrpcServerBuilder grpc) => grpc.AddJsonTranscoding();

    /// <summary>
    /// What the transcoded routes need beyond the gRPC endpoints' own policy: a refusal for the API key answers as their
    /// other errors do, HTTP 401 with the status as JSON (the gRPC endpoints keep UNAUTHENTICATED, see
    /// <see cref="ApiKeyAuthenticationHandler"/>); and a body over <paramref name="maxRequestBytes"/> (gRPC's receive
    /// limit, Gateway:MaxRequestBytes) is refused while it is read, as gRPC refuses a larger message before parsing it
    /// (transcoding answers that 400, INVALID_ARGUMENT, "Request body too large", naming the limit; gRPC says
    /// RESOURCE_EXHAUSTED).
    /// </summary>
    public static GrpcServiceEndpointConventionBuilder WithHttpJsonPolicies(this GrpcServiceEndpointConventionBuilder service, int maxRequestBytes)
    {
        service.Add(endpoint =>
        {
            if (endpoint.Metadata.Any(m => m is GrpcJsonTranscodingMetadata))
            {
                endpoint.Metadata.Add(new UnauthenticatedResponse(WriteUnauthenticatedAsync));
                endpoint.Metadata.Add(new RequestSizeLimit(maxRequestBytes));
            }
        });
        return service;
    }

    /// <summary>Read by the routing middleware, which sets the request's body limit before the endpoint reads it.</summary>
    private sealed record RequestSizeLimit(long? MaxRequestBodySize) : IRequestSizeLimitMetadata;

    private static Task WriteUnauthenticatedAsync(HttpResponse response, string message)
    {
        response.StatusCode = StatusCodes.Status401Unauthorized;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.WWWAuthenticate = "Bearer";
        var status = new Google.Rpc.Status { Code = (int)Grpc.Core.StatusCode.Unauthenticated, Message = message };
        return response.WriteAsync(JsonFormatter.Default.Format(status));
    }
}
