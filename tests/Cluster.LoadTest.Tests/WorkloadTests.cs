namespace Cluster.LoadTest.Tests;

public sealed class WorkloadTests
{
    [Fact]
    public void Uniform_lengths_stay_within_bounds_and_cover_them()
    {
        var workload = new Workload(new LengthRange(5, 9), new LengthRange(2, 4), vocabularySize: 1000, seed: 11);
        var requests = Enumerable.Range(0, 5000).Select(i => workload.At(i)).ToList();
        var prompts = requests.Select(r => r.PromptTokens).ToList();
        var outputs = requests.Select(r => r.MaxNewTokens).ToList();

        Assert.True(prompts.All(n => n is >= 5 and <= 9), $"prompt lengths out of [5, 9]: {string.Join(", ", prompts.Where(n => n is < 5 or > 9).Distinct())}");
        Assert.True(outputs.All(n => n is >= 2 and <= 4), $"output lengths out of [2, 4]: {string.Join(", ", outputs.Where(n => n is < 2 or > 4).Distinct())}");
        Assert.Equal([5, 6, 7, 8, 9], prompts.Distinct().Order());
        Assert.Equal([2, 3, 4], outputs.Distinct().Order());
        // Means of 5000 uniform draws: standard errors about 0.02 and 0.012.
        Assert.True(Math.Abs(prompts.Average() - 7) < 0.1, $"mean prompt length {prompts.Average():F3}, expected 7 within 0.1");
        Assert.True(Math.Abs(outputs.Average() - 3) < 0.06, $"mean output length {outputs.Average():F3}, expected 3 within 0.06");
        var ids = requests.SelectMany(r => r.TokenIds!).ToList();
        Assert.True(ids.All(id => id is >= 1 and < 500), $"token ids outside the vocabulary's ordinary lower half: {string.Join(", ", ids.Where(id => id is < 1 or >= 500).Distinct().Take(10))}");
    }

    [Fact]
    public void Shared_prefixes_start_every_prompt_and_each_is_used_with_prompts_of_their_own_after_it()
    {
        var shared = new SharedPrefixes(Count: 3, Tokens: 40);
        var workload = new Workload(LengthRange.Fixed(8), LengthRange.Fixed(4), vocabularySize: 1000, seed: 9, sharedPrefixes: shared);
        var again = new Workload(LengthRange.Fixed(8), LengthRange.Fixed(4), vocabularySize: 1000, seed: 9, sharedPrefixes: shared);
        var requests = Enumerable.Range(0, 300).Select(i => workload.At(i).TokenIds!).ToList();

        var prefixes = requests.Select(ids => string.Join(",", ids.Take(40))).ToList();
        var counts = prefixes.GroupBy(p => p).Select(g => g.Count()).ToList();
        Assert.True(requests.All(ids => ids.Length == 48) && counts.Count == 3 && counts.All(c => c > 60),
            $"300 prompts of {string.Join("/", requests.Select(r => r.Length).Distinct())} tokens over {counts.Count} distinct 40-token prefixes used [{string.Join(", ", counts)}] times; expected 48 tokens, 3 prefixes each used about 100 times");
        var suffixes = requests.Select(ids => string.Join(",", ids.Skip(40))).Distinct().Count();
        Assert.True(suffixes > 290, $"only {suffixes} distinct 8-token suffixes among 300 prompts: each request's own tokens should differ");
        Assert.True(Enumerable.Range(0, 300).All(i => again.At(i).TokenIds!.SequenceEqual(requests[i])), "request i differs between two workloads of the same seed");
    }

    [Fact]
    public void Each_turn_of_a_conversation_resends_the_previous_turn_whole_then_an_answer_and_a_new_question()
    {
        var workload = new Workload(LengthRange.Fixed(10), LengthRange.Fixed(6), vocabularySize: 1000, seed: 3, sharedPrefixes: new SharedPrefixes(2, 20), conversationTurns: 4);
        var conversations = Enumerable.Range(0, 5).Select(c => Enumerable.Range(0, 4).Select(t => workload.At(c * 4 + t).TokenIds!).ToList()).ToList();

        foreach (var turns in conversations)
        {
            var lengths = turns.Select(t => t.Length).ToArray();
            Assert.True(lengths.SequenceEqual([30, 46, 62, 78]), $"turn lengths [{string.Join(", ", lengths)}]; expected 20 + 10, then 16 more a turn (a 6-token answer, a 10-token question)");
            for (var t = 1; t < turns.Count; t++)
            {
                Assert.True(turns[t].Take(turns[t - 1].Length).SequenceEqual(turns[t - 1]), $"turn {t} does not start with turn {t - 1}'s prompt");
            }
        }
        var firstTurns = conversations.Select(c => string.Join(",", c[0].Skip(20))).Distinct().Count();
        Assert.True(firstTurns == 5, $"5 conversations opened with {firstTurns} distinct questions");
    }

    [Fact]
    public void Fixed_lengths_are_exact_and_request_i_is_the_same_in_every_run()
    {
        var workload = new Workload(LengthRange.Fixed(16), LengthRange.Fixed(8), vocabularySize: 100, seed: 5);
        var again = new Workload(LengthRange.Fixed(16), LengthRange.Fixed(8), vocabularySize: 100, seed: 5);
        for (var i = 0; i < 50; i++)
        {
            var request = workload.At(i);
            Assert.Equal(16, request.PromptTokens);
            Assert.Equal(8, request.MaxNewTokens);
            Assert.Equal(request.TokenIds, again.At(i).TokenIds);
        }
        Assert.NotEqual(workload.At(0).TokenIds, workload.At(1).TokenIds);
    }

    [Fact]
    public void Prompts_from_a_file_are_sent_as_text_and_all_get_used()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(path, ["In the beginning", "", "God created the heaven", "and the earth"]);
            var texts = Workload.ReadPrompts(path);
            Assert.Equal(["In the beginning", "God created the heaven", "and the earth"], texts);

            var workload = new Workload(LengthRange.Fixed(1), new LengthRange(1, 3), vocabularySize: 100, seed: 2, texts);
            var requests = Enumerable.Range(0, 300).Select(i => workload.At(i)).ToList();
            Assert.True(requests.All(r => r.TokenIds is null && r.Text is not null), "every request from a prompts file must carry text, not token ids");
            Assert.Equal(texts.Order(), requests.Select(r => r.Text!).Distinct().Order());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
