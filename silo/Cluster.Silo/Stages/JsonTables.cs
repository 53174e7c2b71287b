using System.Collections.Concurrent;
using Cluster.Engine.Sampling.Json;
using Cluster.Tokenizers;

namespace Cluster.Silo.Stages;

/// <summary>
/// JSON mode's token tables, one per checkpoint and vocabulary size in this silo, built from the checkpoint's tokenizer
/// the first time a request asks for JSON (reading every token's bytes and sorting them: a fraction of a second for a
/// 150k vocabulary, once) and shared by every stage and replica of the model on this silo.
/// </summary>
internal static class JsonTables
{
    private static readonly ConcurrentDictionary<(string Path, int Vocabulary), Lazy<JsonTokenTable>> Tables = new();

    public static Func<JsonTokenTable> For(string checkpointPath, int vocabularySize)
    {
        var table = Tables.GetOrAdd((Path.GetFullPath(checkpointPath), vocabularySize), key => new Lazy<JsonTokenTable>(() =>
        {
            var tokenizer = CheckpointTokenizer.Load(key.Path);
            return new JsonTokenTable(key.Vocabulary, tokenizer.ContinuationBytes);
        }));
        return () => table.Value;
    }
}
