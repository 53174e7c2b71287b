namespace Cluster.Contracts.Responses;

/// <summary>
/// A response of the OpenAI-compatible Responses API kept (<c>store</c>, true by default as on OpenAI) so that a later
/// request can continue its conversation with <c>previous_response_id</c> from any gateway, or read it back with
/// <c>GET /v1/responses/{id}</c>. Keyed by the response id. It belongs to the tenant (API key name) that created it:
/// to any other it does not exist. Kept in the memory of the silo that holds it, within that silo's budget, for at
/// most an hour after its last use.
/// </summary>
public interface IStoredResponseGrain : IGrainWithStringKey
{
    Task Save(StoredResponse response);

    /// <summary>The response, or null when it is not stored (never, expired, deleted, or another owner's).</summary>
    Task<StoredResponse?> Load(string owner);

    /// <summary>Forgets the response; false when <paramref name="owner"/> has no such response.</summary>
    Task<bool> Delete(string owner);
}

/// <param name="Owner">The API key name that created it (<see cref="Sessions.SessionOwner.Anonymous"/> without keys).</param>
/// <param name="ConversationJson">
/// The conversation up to and including this response's output, as a <c>ChatMessages</c> message in protobuf's JSON
/// form (messages only; instructions are not carried over, as on OpenAI).
/// </param>
/// <param name="ResponseJson">The response object as it was answered.</param>
[GenerateSerializer, Immutable]
public sealed record StoredResponse(
    [property: Id(0)] string Owner,
    [property: Id(1)] string Model,
    [property: Id(2)] string ConversationJson,
    [property: Id(3)] string ResponseJson);
