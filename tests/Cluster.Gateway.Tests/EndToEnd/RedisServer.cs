using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>A throwaway redis-server on a free loopback port (apt's redis-server, as .ci/run installs), without persistence.</summary>
internal sealed class RedisServer : IDisposable
{
    private readonly Process _process;

    private RedisServer(Process process, int port) => (_process, Port) = (process, port);

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        var port = FreePort();
        var process = Process.Start(new ProcessStartInfo("redis-server", ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("redis-server did not start (apt-get install redis-server).");
        var server = new RedisServer(process, port);
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, limit.Token);
                return server;
            }
            catch (SocketException) when (!limit.IsCancellationRequested && !process.HasExited)
            {
                await Task.Delay(20);
            }
            catch (Exception e)
            {
                server.Dispose();
                throw new InvalidOperationException($"redis-server on port {port} did not accept connections within 15 s (exited: {process.HasExited}).", e);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }
        _process.Dispose();
    }
}
