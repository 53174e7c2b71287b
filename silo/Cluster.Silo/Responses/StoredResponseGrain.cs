using Cluster.Contracts.Responses;

namespace Cluster.Silo.Responses;

/// <summary>
/// One stored response (see <see cref="IStoredResponseGrain"/>), kept in its silo's <see cref="StoredResponseCache"/>
/// (memory only, within the silo's budget): a chain of responses is a cache of what its client could resend, so losing
/// one (dropped for room, an hour unused, or its silo gone) costs a 404 that tells the client to send the whole
/// conversation, never a wrong answer. The prefix cache on the stages, not this grain, spares recomputing the
/// conversation's tokens.
/// </summary>
[CollectionAgeLimit(Minutes = 60)]
public sealed class StoredResponseGrain(StoredResponseCache cache) : Grain, IStoredResponseGrain
{
    private string Id => this.GetPrimaryKeyString();

    public Task Save(StoredResponse response)
    {
        cache.Set(Id, response);
        return Task.CompletedTask;
    }

    public Task<StoredResponse?> Load(string owner) => Task.FromResult(cache.Get(Id) is { } response && response.Owner == owner ? response : null);

    public Task<bool> Delete(string owner)
    {
        if (cache.Get(Id) is not { } response || response.Owner != owner)
        {
            return Task.FromResult(false);
        }
        cache.Remove(Id);
        DeactivateOnIdle();
        return Task.FromResult(true);
    }
}
