using System.CommandLine;
using System.Globalization;
using System.Text;
using Cluster.Contracts.Api;

namespace Cluster.Client;

/// <summary><c>models</c>: the models served and how each replica is split into stages across silos.</summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var command = new Command("models", "List the models, their stages, layers, silos and KV-cache use");
        command.SetAction((parse, cancellation) => GatewayConnection.RunAsync(parse, async (client, output) =>
        {
            ListModelsResponse response = await client.ListModelsAsync(new ListModelsRequest(), cancellationToken: cancellation);
            await output.WriteAsync(Format(response));
            return 0;
        }));
        return command;
    }

    /// <summary>One header line per model, then a table of its stages.</summary>
    public static string Format(ListModelsResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var text = new StringBuilder();
        if (response.Models.Count == 0)
        {
            return "No models.\n";
        }

        foreach (ModelInfo model in response.Models)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"{model.Name}{(model.IsDefault ? " (default)" : "")}: {model.Architecture}, {model.Layers} layers, context {model.ContextLength}, vocabulary {model.VocabularySize}, max_new_tokens <= {model.MaxNewTokensLimit}\n");
            var rows = new List<string[]> { new[] { "replica", "stage", "layers", "silo", "device", "dtype", "weights", "KV dtype", "sessions", "KV cache" } };
            foreach (ReplicaInfo replica in model.Replicas)
            {
                foreach (StageInfo stage in replica.Stages)
                {
                    string usage = stage.KvCacheBudgetBytes > 0
                        ? $"{Show.Bytes(stage.KvCacheBytes)} / {Show.Bytes(stage.KvCacheBudgetBytes)} ({(100.0 * stage.KvCacheBytes / stage.KvCacheBudgetBytes).ToString("F1", CultureInfo.InvariantCulture)}%)"
                        : Show.Bytes(stage.KvCacheBytes);
                    rows.Add([
                        replica.Replica.ToString(CultureInfo.InvariantCulture),
                        stage.Stage.ToString(CultureInfo.InvariantCulture),
                        $"[{stage.FirstLayer}, {stage.EndLayer})",
                        stage.Silo,
                        stage.Device,
                        stage.Dtype,
                        stage.WeightDtype,
                        stage.KvCacheDtype,
                        stage.Sessions.ToString(CultureInfo.InvariantCulture),
                        usage,
                    ]);
                }
            }

            int[] widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
            foreach (string[] row in rows)
            {
                text.Append("  ").Append(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd()).Append('\n');
            }
        }

        return text.ToString();
    }
}
