using Grpc.Core;

namespace Cluster.Gateway.Requests;

/// <summary>The one way a request check fails: INVALID_ARGUMENT with a message that names the field and its limit.</summary>
internal static class InvalidArgument
{
    public static RpcException Error(string message) => new(new Status(StatusCode.InvalidArgument, message));

    /// <summary>"NaN", "1.5", "-0.25": the value as the client sent it, culture-invariant.</summary>
    public static string Show(float value) => value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    public static string VocabularyRange(int vocabularySize) => $"[0, {vocabularySize})";
}
