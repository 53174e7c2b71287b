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
/// them all through the LM head. Like embeddings, a prefill whose caches are dropped after the call, outside the
/// scheduler: nothing to release, and an unreachable stage fails the call with UNAVAILABLE.
/// </summary>
internal static class InspectRunner
{
    public const int DefaultTopN = 5;
    public const int MaxTopN = 20;
    public const int MaxFullAttentionTokens = 64;
    public const long MaxAttentionWeights = 4_194_304;

    public static async Task<InspectResponse> RunAsync(ServedModel model, InspectRequest request, CancellationToken cancellation)
    {
        using var span = GatewayTelemetry.Source.StartActivity("inspect", ActivityKind.Internal);
        var topN = request.TopN == 0 ? DefaultTopN
            : request.TopN <= MaxTopN ? (int)request.TopN
            : throw InvalidArgument.Error($"top_n must be in [1, {MaxTopN}]; got {request.TopN}");
        var tokenization = TokenizationView.Build(request.Text, model.Tokenizer, model.Limits, request.HasAddSpecialTokens ? request.AddSpecialTokens : null);
        var ids = tokenization.Tokens.Select(t => t.Id).ToArray();
        if (ids.Length > model.Limits.ContextLength)
        {
            throw InvalidArgument.Error($"text has {ids.Length} tokens; the model's context length is {model.Limits.ContextLength}");
        }
        var sampling = request.Sampling is { } asked ? GenerateRequestValidator.CheckSampling(asked, topLogprobs: 0) : null;
        var replica = model.LeastLoadedReplica();
        var description = replica.Descriptions[0];
        var attentionRows = !request.HasAttention || request.Attention ? (ids.Length <= MaxFullAttentionTokens ? ids.Length : 1) : 0;
        var weights = (long)description.LayerCount * description.HeadCount * attentionRows * ids.Length;
        if (weights > MaxAttentionWeights)
        {
            throw InvalidArgument.Error($"attention: {description.LayerCount} layers × {description.HeadCount} heads × {attentionRows} rows × {ids.Length} tokens = {weights} weights; at most {MaxAttentionWeights} are returned (send attention: false, or a shorter text)");
        }
        span?.SetTag("model", model.Name);
        span?.SetTag("prompt_tokens", ids.Length);

        var response = new InspectResponse { Tokenization = tokenization };
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
                result = await replica.Stages[s].Inspect(new InspectBatch(ids, hidden, states, topN, sampling, attentionRows));
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
                    entry.Top.AddRange(Probabilities(model, layer));
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

    private static IEnumerable<TokenProbability> Probabilities(ServedModel model, LensLayer layer) =>
        layer.TopTokenIds.Select((id, i) => Token(model, id, layer.TopLogprobs[i], MathF.Exp(layer.TopLogprobs[i])));

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
                Piece = model.Tokenizer.Knows(n) ? model.Tokenizer.TokenPiece(n) : "",
                Text = model.Tokenizer.Knows(n) ? model.Tokenizer.Decode([n], skipSpecialTokens: false) : "",
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
        Piece = model.Tokenizer.Knows(id) ? model.Tokenizer.TokenPiece(id) : "",
        Text = model.Tokenizer.Knows(id) ? model.Tokenizer.Decode([id], skipSpecialTokens: false) : "",
        Logprob = logprob,
        Probability = probability,
    };
}
