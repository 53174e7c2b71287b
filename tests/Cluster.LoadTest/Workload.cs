namespace Cluster.LoadTest;

/// <summary>One request to send: a prompt as token ids (an exact length) or as text (from a prompts file), and how many tokens to generate.</summary>
public sealed record PlannedRequest(int[]? TokenIds, string? Text, int MaxNewTokens)
{
    /// <summary>Prompt tokens when known before sending (token ids); a text prompt's count comes back in the usage.</summary>
    public int PromptTokens => TokenIds?.Length ?? 0;
}

/// <summary>
/// Prompts that start with one of <see cref="Count"/> shared prefixes of <see cref="Tokens"/> tokens (system prompts,
/// RAG instructions, few-shot examples), each followed by the request's own tokens: the traffic a prefix cache serves.
/// </summary>
public sealed record SharedPrefixes(int Count, int Tokens);

/// <summary>
/// The requests of a run, each drawn from a generator seeded by the run's seed and the request's index: request i is
/// the same in every run and at every level, whichever stream or arrival sends it, and none has to be made in advance
/// (a run bounded by duration has no request count). With <paramref name="sharedPrefixes"/>, each prompt is one of the
/// shared prefixes, picked uniformly, then <paramref name="promptTokens"/> tokens of its own. With
/// <paramref name="conversationTurns"/> above 1, requests i·turns … i·turns + turns − 1 are the turns of conversation i,
/// as a chat client sends them: turn t resends turn t − 1's prompt, an answer of that turn's length, and a new question,
/// so each turn's prompt starts with the previous one (an agent's or a chat UI's traffic).
/// </summary>
public sealed class Workload(LengthRange promptTokens, LengthRange maxNewTokens, int vocabularySize, ulong seed, IReadOnlyList<string>? promptTexts = null,
    SharedPrefixes? sharedPrefixes = null, int conversationTurns = 1)
{
    // Conversation k's tokens come from their own stream, so every turn of it rebuilds the same earlier turns.
    private const ulong ConversationStream = 0xC0_4E_75_A7_10_4EUL;

    // Prefix k is drawn from its own stream (the seed mixed with this tag), apart from the requests' streams.
    private const ulong PrefixStream = 0x5EED_0F_50_1A_2EUL;

    private readonly int[][] _prefixes = sharedPrefixes is { } shared
        ? [.. Enumerable.Range(0, shared.Count).Select(k => Ids(new Random(Mix(seed ^ PrefixStream, (ulong)k)), shared.Tokens, vocabularySize))]
        : [];

    public static Workload From(LoadSettings settings) =>
        new(settings.PromptTokens, settings.MaxNewTokens, settings.VocabularySize, settings.Seed, settings.PromptTexts, settings.SharedPrefixes,
            settings.ConversationTurns);

    public PlannedRequest At(long index)
    {
        if (conversationTurns > 1 && promptTexts is not { Count: > 0 })
        {
            // Warm-up requests (negative indices) open conversations of their own.
            return index < 0 ? Turn(index, 0) : Turn(index / conversationTurns, (int)(index % conversationTurns));
        }
        var random = new Random(Mix(seed, (ulong)index));
        var maxNew = maxNewTokens.Draw(random);
        if (promptTexts is { Count: > 0 })
        {
            return new PlannedRequest(null, promptTexts[random.Next(promptTexts.Count)], maxNew);
        }
        var prefix = _prefixes.Length > 0 ? _prefixes[random.Next(_prefixes.Length)] : [];
        return new PlannedRequest([.. prefix, .. Ids(random, promptTokens.Draw(random), vocabularySize)], null, maxNew);
    }

    private PlannedRequest Turn(long conversation, int turn)
    {
        var random = new Random(Mix(seed ^ ConversationStream, (ulong)conversation));
        List<int> prompt = [.. _prefixes.Length > 0 ? _prefixes[random.Next(_prefixes.Length)] : [], .. Ids(random, promptTokens.Draw(random), vocabularySize)];
        var maxNew = maxNewTokens.Draw(random);
        for (var t = 1; t <= turn; t++)
        {
            prompt.AddRange(Ids(random, maxNew, vocabularySize)); // the previous turn's answer, as the client resends it
            prompt.AddRange(Ids(random, promptTokens.Draw(random), vocabularySize)); // the next question
            maxNew = maxNewTokens.Draw(random);
        }
        return new PlannedRequest([.. prompt], null, maxNew);
    }

    /// <summary>Ids from the lower half of the vocabulary: ordinary tokens, never the special ones at its end.</summary>
    private static int[] Ids(Random random, int length, int vocabularySize)
    {
        var upper = Math.Max(2, vocabularySize / 2);
        var ids = new int[length];
        for (var i = 0; i < length; i++)
        {
            ids[i] = random.Next(1, upper);
        }
        return ids;
    }

    /// <summary>SplitMix64 of seed and index, folded to 31 bits: stable across processes (unlike HashCode).</summary>
    private static int Mix(ulong seed, ulong index)
    {
        var z = seed + (index + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & int.MaxValue);
    }

    /// <summary>Non-empty lines of a prompts file, one prompt each.</summary>
    public static IReadOnlyList<string> ReadPrompts(string path)
    {
        var prompts = File.ReadLines(path).Where(line => !string.IsNullOrWhiteSpace(line)).ToList();
        return prompts.Count > 0 ? prompts : throw new InvalidDataException($"The prompts file '{path}' has no prompts (one per line).");
    }
}
