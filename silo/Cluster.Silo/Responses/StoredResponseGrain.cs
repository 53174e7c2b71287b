using Cluster.Contracts.Responses;

namespace Cluster.Silo.Responses;

/// <summary>
/// One stored response (see <see cref="IStoredResponseGrain"/>), in memory only: a chain of responses is a cache of
/// what its client could resend, so losing it (an hour unused, or its silo gone) costs a 404 that tells the client to
/// send the whole conversation, never a wrong answer. The prefix cache on the stages, not this grain, is what saves
/// recomputing the conversation's tokens.
/// </summary>
[CollectionAgeLimit(Minutes = 60)]
public sealed class StoredResponseGrain : Grain, IStoredResponseGrain
{
    private StoredResponse? _response;

    public Task Save(StoredResponse response)
    {
        _response = response;
        return Task.CompletedTask;
    }

    public Task<StoredResponse?> Load(string owner) => Task.FromResult(_response is { } response && response.Owner == owner ? response : null);

    public Task<bool> Delete(string owner)
    {
        if (_response is null || _response.Owner != owner)
        {
            return Task.FromResult(false);
        }
        _response = null;
        DeactivateOnIdle();
        return Task.FromResult(true);
    }
}
