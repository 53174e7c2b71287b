using System.CommandLine;
using Cluster.Contracts.Api;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace Cluster.Client;

/// <summary>The gateway's address option and the one way every command calls it: a gRPC error prints its status and exits 1.</summary>
public static class GatewayConnection
{
    public const string DefaultAddress = "http://localhost:5000";

    public static Option<string> Address { get; } = new("--address", "-a")
    {
        Description = "Gateway address; http:// is HTTP/2 without TLS (h2c)",
        DefaultValueFactory = _ => DefaultAddress,
        Recursive = true,
    };

    /// <summary>Environment variable the API key is read from when --api-key is not given (keeps it out of shell history).</summary>
    public const string ApiKeyVariable = "CLUSTER_API_KEY";

    public static Option<string?> ApiKey { get; } = new("--api-key")
    {
        Description = $"API key, sent as 'authorization: Bearer <key>' (default: ${ApiKeyVariable}; none: no header)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(ApiKeyVariable),
        Recursive = true,
    };

    /// <summary>The trailer a refusal for lack of room carries: the wait the gateway suggests before a retry, in milliseconds.</summary>
    public const string RetryAfterTrailer = "retry-after-ms";

    /// <summary>Connects to the address the command line names and runs <paramref name="call"/>; returns its exit code, or 1 on a gRPC error.</summary>
    public static async Task<int> RunAsync(ParseResult parse, Func<Generation.GenerationClient, TextWriter, Task<int>> call)
    {
        TextWriter output = parse.InvocationConfiguration.Output;
        TextWriter error = parse.InvocationConfiguration.Error;
        string address = parse.GetValue(Address)!;
        string? apiKey = parse.GetValue(ApiKey);
        try
        {
            // Inspect answers can be large (attention weights of every layer and head): room for 64 MB.
            using GrpcChannel channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = 64 * 1024 * 1024 });
            CallInvoker invoker = string.IsNullOrEmpty(apiKey)
                ? channel.CreateCallInvoker()
                : channel.Intercept(headers =>
                {
                    headers.Add("authorization", $"Bearer {apiKey}");
                    return headers;
                });
            return await call(new Generation.GenerationClient(invoker), output);
        }
        catch (RpcException e)
        {
            await output.FlushAsync();
            await error.WriteLineAsync();
            await error.WriteLineAsync($"error: {e.StatusCode} ({(int)e.StatusCode}): {e.Status.Detail}");
            if (e.Trailers.GetValue(RetryAfterTrailer) is { } retryAfterMs)
            {
                await error.WriteLineAsync($"The gateway suggests retrying after {retryAfterMs} ms.");
            }
            return 1;
        }
        catch (UriFormatException e)
        {
            await error.WriteLineAsync($"error: --address \"{address}\" is not a URI: {e.Message}");
            return 2;
        }
    }
}
