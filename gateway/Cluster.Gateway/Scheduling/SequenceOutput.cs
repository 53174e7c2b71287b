using Cluster.Contracts.Api;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// What the scheduler hands the gRPC stream of one request: response messages in order, then completion (with an
/// <see cref="Grpc.Core.RpcException"/> when the request failed). Unbounded because a request can produce at most
/// max_new_tokens messages, all of which the client was promised.
/// </summary>
public sealed class SequenceOutput
{
    private readonly System.Threading.Channels.Channel<GenerateResponse> _channel =
        System.Threading.Channels.Channel.CreateUnbounded<GenerateResponse>(new() { SingleReader = true, SingleWriter = true });

    public System.Threading.Channels.ChannelReader<GenerateResponse> Reader => _channel.Reader;

    internal void Write(GenerateResponse response) => _channel.Writer.TryWrite(response);

    internal void Complete(Exception? error = null) => _channel.Writer.TryComplete(error);
}
