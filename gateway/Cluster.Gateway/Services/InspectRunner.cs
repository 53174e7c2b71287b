using System.Diagnostics;
using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Cluster.Gateway.Inspection;
using Cluster.Gateway.Models;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Telemetry;
using Grpc.Core;

namespace Cluster.Gateway.Services;

/// <summary>
/// Inspect: the tokenization (on the gateway), then the prompt's forward pass through one replica's stages hop by
/// hop (<see cref="IStageGrain.Inspect"/>), each stage adding its layers' last-token states, the last one reading
/// them all through the LM head. Like embeddings, a prefill whose caches are dropped after the call: it holds room
/// for its positions in the replica's KV budget while it runs (<see cref="Scheduling.ReplicaScheduler.ReserveAsync"/>),
/// so it queues behind a full replica instead of crowding it; an unreachable stage fails the call with UNAVAILABLE.
/// </summary>
internal static class InspectRunner
{
    public const int DefaultTopN = 5;
    public const int MaxTopN = 20;
    /// <summary>The longest text whose full attention matrices and every-position logit lens are returned.</summary>
    public const int MaxFullViewTokens = 64;
    public const long MaxAttentionWeights = 4_194_304;

    /// <param name="session">The session whose history comes before the text (its turn held by the caller), or null.</param>
    public static async Task<InspectResponse> RunAsync(ServedModel model, InspectRequest request, SessionTurn? session, CancellationToken cancellation)
    {
        using var span = GatewayTelemetry.Source.StartActivity("inspect", ActivityKind.Internal);
        var topN = request.TopN == 0 ? DefaultTopN
            : request.TopN <= MaxTopN ? (int)request.TopN
            : throw InvalidArgument.Error($"top_n must be in [1, {MaxTopN}]; got {request.TopN}");
        var history = session?.Snapshot.History ?? [];
        var tokenization = TokenizationView.Build(request.Text, model.Tokenizer, model.Limits, request.HasAddSpecialTokens ? request.AddSpecialTokens : null,
            freshSequence: history.Length == 0);
        int[] ids = [.. history, .. tokenization.Tokens.Select(t => t.Id)];
        if (ids.Length > model.Limits.ContextLength || ids.Length > TokenizationView.MaxTokens)
        {
            var what = history.Length == 0 ? "text" : $"session history ({history.Length} tokens) + text";
            throw InvalidArgument.Error($"{what} has {ids.Length} tokens; Inspect takes at most {Math.Min(model.Limits.ContextLength, TokenizationView.MaxTokens)} (the model's context length is {model.Limits.ContextLength})");
        }
        if (ids.Length == 0)
        {
            throw InvalidArgument.Error($"text is empty and session '{session!.SessionId}' has no history yet: nothing to inspect");
        }
        var sampling = request.Sampling is { } asked ? GenerateRequestValidator.CheckSampling(asked, model.Limits, topLogprobs: 0) : null;
        var replica = session is null ? model.LeastLoadedReplica() : model.Replica(session.Snapshot.Replica);
        var description = replica.Descriptions[0];
        var attentionRows = !request.HasAttention || request.Attention ? (ids.Length <= MaxFullViewTokens ? ids.Length : 1) : 0;
        var weights = (long)description.LayerCount * description.HeadCount * attentionRows * ids.Length;
        if (weights > MaxAttentionWeights)
        {
            throw InvalidArgument.Error($"attention: {description.LayerCount} layers × {description.HeadCount} heads × {attentionRows} rows × {ids.Length} tokens = {weights} weights; at most {MaxAttentionWeights} are returned (send attention: false, or a shorter text)");
        }
        if (request.LensAllPositions && ids.Length > MaxFullViewTokens)
        {
            throw InvalidArgument.Error($"lens_all_positions: the text has {ids.Length} tokens; the logit lens at every position is for at most {MaxFullViewTokens}");
        }
        var lensRows = request.LensAllPositions ? ids.Length : 1;
        span?.SetTag("model", model.Name);
        span?.SetTag("prompt_tokens", ids.Length);
        await using var room = await replica.Scheduler.ReserveAsync(ids.Length, model.Name, cancellation);

        var response = new InspectResponse { Tokenization = tokenization };
        response.SessionTokens.AddRange(history.Select(id => new InspectedToken
        {
            Id = id,
            Piece = Piece(model, id),
            Special = model.Tokenizer.IsSpecialToken(id),
            Text = Text(model, id),
        }));
        HiddenStates? hidden = null;
        float[][] states = [];
        var producedBy = new List<(int Stage, string Silo)>();
        TokenNeighbours? neighbours = null;
        PositionCurve? curve = null;
        for (var s = 0; s < replica.Stages.Count; s++)
        {
            cancellation.ThrowIfCancellationRequested();
            InspectResult result;
            try
            {
                result = await replica.Stages[s].Inspect(new InspectBatch(ids, hidden, states, topN, sampling, attentionRows, lensRows));
            }
            catch (ArgumentException refused)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"stage {s} refused the prompt: {refused.Message}"));
            }
            catch (Exception failed) when (failed is not RpcException)
            {
                span?.SetStatus(ActivityStatusCode.Error, failed.Message);
                throw new RpcException(new Status(StatusCode.Unavailable, $"stage {s} of model '{model.Name}' did not answer ({failed.GetType().Name}); retry"));
            }
            neighbours ??= result.Embedding;
            curve ??= result.Positions;
            foreach (var layer in result.Attention ?? [])
            {
                var entry = new AttentionLayer
                {
                    Layer = (uint)layer.Layer, Stage = (uint)s, Silo = result.Silo, Heads = (uint)layer.Heads,
                    FirstRow = (uint)(layer.Columns - layer.Rows), Rows = (uint)layer.Rows, Columns = (uint)layer.Columns,
                };
                entry.Weights.AddRange(layer.Weights);
                response.Attention.Add(entry);
            }
            var produced = (result.Lens?.Length ?? result.LayerStates.Length) - producedBy.Count;
            producedBy.AddRange(Enumerable.Repeat((s, result.Silo), produced));
            if (result.Lens is { } lens)
            {
                foreach (var layer in lens)
                {
                    var entry = new LogitLensLayer { Layer = (uint)layer.Layer, Stage = (uint)producedBy[layer.Layer].Stage, Silo = producedBy[layer.Layer].Silo, HiddenNorm = layer.HiddenNorm };
                    entry.Top.AddRange(Probabilities(model, layer.TopTokenIds, layer.TopLogprobs));
                    entry.Positions.AddRange(LensAtEveryPosition(model, layer, topN));
                    response.LogitLens.Add(entry);
                }
                response.NextToken.AddRange(response.LogitLens[^1].Top);
                if (result.Sampler is { } sampler)
                {
                    response.Sampler = Steps(model, sampler);
                }
                if (neighbours is not null)
                {
                    response.Embedding.AddRange(Embeddings(model, ids, neighbours));
                }
                if (curve is not null)
                {
                    response.Positions = Positions(curve);
                }
                return response;
            }
            hidden = result.Hidden;
            states = result.LayerStates;
        }
        throw new RpcException(new Status(StatusCode.Internal, $"the last stage of model '{model.Name}' returned no logit lens"));
    }

    private static IEnumerable<TokenProbability> Probabilities(ServedModel model, IEnumerable<int> ids, IReadOnlyList<float> logprobs) =>
        ids.Select((id, i) => Token(model, id, logprobs[i], MathF.Exp(logprobs[i])));

    private static IEnumerable<PositionLens> LensAtEveryPosition(ServedModel model, LensLayer layer, int topN)
    {
        for (var position = 0; position < (layer.PositionNorms?.Length ?? 0); position++)
        {
            var entry = new PositionLens { Position = (uint)position, HiddenNorm = layer.PositionNorms![position] };
            entry.Top.AddRange(Probabilities(model, layer.PositionTopIds!.Skip(position * topN).Take(topN), layer.PositionTopLogprobs!.AsSpan(position * topN, topN).ToArray()));
            yield return entry;
        }
    }

    private static IEnumerable<TokenEmbedding> Embeddings(ServedModel model, int[] ids, TokenNeighbours neighbours)
    {
        var byId = neighbours.TokenIds.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        foreach (var id in ids)
        {
            var i = byId[id];
            var entry = new TokenEmbedding { Id = id, Norm = neighbours.Norms[i] };
            entry.Nearest.AddRange(neighbours.Nearest[i].Select((n, j) => new TokenNeighbour
            {
                Id = n,
                Piece = Piece(model, n),
                Text = Text(model, n),
                Similarity = neighbours.Similarities[i][j],
            }));
            yield return entry;
        }
    }

    private static PositionEncoding Positions(PositionCurve curve)
    {
        if (curve.Rotary)
        {
            var rotary = new RotaryPositions { Base = curve.RopeTheta, HeadDim = (uint)curve.HeadDimension, Positions = (uint)curve.Positions };
            rotary.Frequencies.AddRange(curve.Frequencies);
            rotary.Distances.AddRange(curve.Distances.Select(d => (uint)d));
            rotary.Similarity.AddRange(curve.Similarities);
            return new PositionEncoding { Rotary = rotary };
        }
        var learned = new LearnedPositions { Positions = (uint)curve.Positions };
        learned.Distances.AddRange(curve.Distances.Select(d => (uint)d));
        learned.Similarity.AddRange(curve.Similarities);
        return new PositionEncoding { Learned = learned };
    }

    private static SamplerSteps Steps(ServedModel model, SamplerExplanation sampler)
    {
        IEnumerable<TokenProbability> Tokens(int[] ids, float[] probabilities) => ids.Select((id, i) => Token(model, id, MathF.Log(probabilities[i]), probabilities[i]));
        var steps = new SamplerSteps
        {
            Greedy = sampler.Greedy,
            Candidates = (uint)sampler.FiniteTokens,
            KeptAfterMinP = (uint)sampler.KeptAfterMinP,
            KeptAfterTopK = (uint)sampler.KeptAfterTopK,
            KeptAfterTopP = (uint)sampler.KeptAfterTopP,
        };
        steps.AfterPenalty.AddRange(Tokens(sampler.AfterPenaltyIds, sampler.AfterPenaltyProbabilities));
        steps.AfterTemperature.AddRange(Tokens(sampler.AfterTemperatureIds, sampler.AfterTemperatureProbabilities));
        steps.DrawnFrom.AddRange(Tokens(sampler.DrawnFromIds, sampler.DrawnFromProbabilities));
        return steps;
    }

    private static TokenProbability Token(ServedModel model, int id, float logprob, float probability) => new()
    {
        Id = id,
        Piece = Piece(model, id),
        Text = Text(model, id),
        Logprob = logprob,
        Probability = probability,
    };

    /// <summary>A token's vocabulary piece; empty for an id the tokenizer does not know (a model's padded rows).</summary>
    private static string Piece(ServedModel model, int id) => model.Tokenizer.Knows(id) ? model.Tokenizer.TokenPiece(id) : "";

    /// <summary>What a token decodes to, special tokens included; empty for an id the tokenizer does not know.</summary>
    private static string Text(ServedModel model, int id) => model.Tokenizer.Knows(id) ? model.Tokenizer.Decode([id], skipSpecialTokens: false) : "";
}
