using System.Text;
using Cluster.Contracts.Api;
using Cluster.Gateway.Requests;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// A chat in a session: the client resends the whole conversation each turn (as to OpenAI's API), the gateway keeps
/// the stages' cache up to the first token the new rendering differs in, and computes only the rest; the answer
/// equals the engine's on the whole conversation computed from scratch.
/// </summary>
public sealed class ChatSessionTests
{
    private const string Template =
        "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

    [Fact]
    public async Task TheSecondTurnComputesOnlyWhatTheConversationAddsAndEqualsTheEngineOnTheWholeConversation()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2, addCheckpointFiles: directory =>
            File.WriteAllText(Path.Combine(directory, "chat_template.jinja"), Template));
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest())).SessionId;
        var sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 8, IgnoreEos = true };

        var (reply1, turn1) = await ChatAsync(cluster, session, sampling, ("system", "Be brief."), ("user", "hello there"));
        var before = await cluster.Stage(0).GetStatus();
        var (_, turn2) = await ChatAsync(cluster, session, sampling, ("system", "Be brief."), ("user", "hello there"), ("assistant", reply1), ("user", "and then?"));
        var after = await cluster.Stage(0).GetStatus();

        var prompt1 = reference.Tokenizer.Encode("system: Be brief.\nuser: hello there\nassistant:", addBos: false);
        List<int> history = [.. prompt1, .. turn1.Tokens];
        var conversation = reference.Tokenizer.Encode($"system: Be brief.\nuser: hello there\nassistant: {reply1}\nuser: and then?\nassistant:", addBos: false);
        var kept = ChatPrompt.ReusablePrefix(history, conversation);
        Assert.True(kept >= prompt1.Count, $"the second turn keeps {kept} tokens, fewer than the first turn's prompt ({prompt1.Count}): nothing of the conversation is reused");
        Assert.Equal((uint)(conversation.Count - kept), turn2.Last.Usage.PromptTokens);
        Assert.Equal((uint)Math.Min(kept, history.Count - 1), turn2.Last.Usage.CachedPromptTokens); // the last sampled token was never fed
        var computed = after.TokensComputed - before.TokensComputed;
        var expected = conversation.Count - Math.Min(kept, history.Count - 1) + turn2.Tokens.Count - 1;
        Assert.True(computed == expected,
            $"turn 2 should compute the conversation from token {Math.Min(kept, history.Count - 1)} of {conversation.Count}, then {turn2.Tokens.Count - 1} decodes = {expected}; stage 0 computed {computed}");
        var engine = reference.Generate(conversation, 8, ignoreEos: true);
        Assert.True(engine.SequenceEqual(turn2.Tokens), $"engine on the whole conversation [{string.Join(",", engine)}], cluster turn 2 [{string.Join(",", turn2.Tokens)}]");
    }

    private static async Task<(string Text, (List<int> Tokens, GenerateResponse Last) Run)> ChatAsync(ClusterUnderTest cluster, string session, SamplingParameters sampling,
        params (string Role, string Content)[] messages)
    {
        var request = new GenerateRequest { Messages = new ChatMessages(), SessionId = session, Sampling = sampling };
        foreach (var (role, content) in messages)
        {
            request.Messages.Messages.Add(new ChatMessage { Role = role, Content = content });
        }
        var text = new StringBuilder();
        var tokens = new List<int>();
        GenerateResponse? last = null;
        using var call = cluster.Client.Generate(request);
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            text.Append(call.ResponseStream.Current.Text);
            tokens.AddRange(call.ResponseStream.Current.TokenIds);
            last = call.ResponseStream.Current;
        }
        return (text.ToString(), (tokens, last!));
    }
}
