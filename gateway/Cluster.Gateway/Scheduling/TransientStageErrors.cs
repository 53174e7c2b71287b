using System.Net.Sockets;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// Which failures of a stage call mean "the stage is (for now) unreachable", so the step is retried on the stage's
/// next activation instead of failing its streams. These are what a call to a grain on a killed or stopping silo
/// throws: the target silo declared dead (<see cref="SiloUnavailableException"/>), the message refused or forwarded
/// too often while membership settles (<see cref="OrleansMessageRejectionException"/>), the connection to the silo or
/// gateway dropping (<see cref="ConnectionFailedException"/>, socket errors), a gateway shedding load, or no answer
/// within the response timeout (<see cref="TimeoutException"/>). Anything else (a bad batch, a bug) is not
/// transient: retrying it would only fail again.
/// </summary>
internal static class TransientStageErrors
{
    public static bool IsTransient(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is OrleansMessageRejectionException or GatewayTooBusyException or ConnectionFailedException
                or Orleans.Networking.Shared.SocketConnectionException or SocketException or TimeoutException)
            {
                return true;
            }
        }
        return false;
    }
}
