namespace Cluster.Gateway.Auth;

/// <summary>
/// Endpoint metadata: how an endpoint that is not gRPC answers a call without a valid key (the OpenAI API answers
/// OpenAI's 401 error object). The message says what was wrong with the key; keys are never in it.
/// </summary>
public sealed record UnauthenticatedResponse(Func<HttpResponse, string, Task> Write);
