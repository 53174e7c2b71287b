using System.CommandLine;
using Cluster.Contracts.Api;
using Grpc.Core;
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

    /// <summary>Connects to the address the command line names and runs <paramref name="call"/>; returns its exit code, or 1 on a gRPC error.</summary>
    public static async Task<int> RunAsync(ParseResult parse, Func<Generation.GenerationClient, TextWriter, Task<int>> call)
    {
        TextWriter output = parse.InvocationConfiguration.Output;
        TextWriter error = parse.InvocationConfiguration.Error;
        string address = parse.GetValue(Address)!;
        try
        {
            using GrpcChannel channel = GrpcChannel.ForAddress(address);
            return await call(new Generation.GenerationClient(channel), output);
        }
        catch (RpcException e)
        {
            await output.FlushAsync();
            await error.WriteLineAsync();
            await error.WriteLineAsync($"error: {e.StatusCode} ({(int)e.StatusCode}): {e.Status.Detail}");
            return 1;
        }
        catch (UriFormatException e)
        {
            await error.WriteLineAsync($"error: --address \"{address}\" is not a URI: {e.Message}");
            return 2;
        }
    }
}
