using Cluster.Contracts.Api;
using Cluster.Contracts.Responses;
using Cluster.Gateway.Auth;
using Cluster.Gateway.Models;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Services;
using Google.Protobuf;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// OpenAI's Responses API: <c>POST /v1/responses</c> runs as a chat completion through <see cref="GenerationRunner"/>
/// (the same validation, keys, limits, scheduler and traces); a stored response (<c>store</c>, true by default) is kept
/// in the cluster (<see cref="IStoredResponseGrain"/>) so that <c>previous_response_id</c> continues its conversation
/// from any gateway, and <c>GET</c> and <c>DELETE /v1/responses/{id}</c> read and forget it. A continued conversation
/// is rendered whole again; the stages' prefix cache is what spares recomputing its earlier tokens.
/// </summary>
internal static class ResponsesEndpoints
{
    public static RouteGroupBuilder MapResponses(this RouteGroupBuilder v1)
    {
        v1.MapPost("/responses", CreateAsync);
        v1.MapGet("/responses/{id}", GetAsync);
        v1.MapDelete("/responses/{id}", DeleteAsync);
        return v1;
    }

    private static async Task CreateAsync(HttpContext http)
    {
        var services = http.RequestServices;
        OpenAiRequest? call = null;
        ResponsesAnswer? answer = null;
        await OpenAiEndpoints.RespondAsync(http, () => call, async () =>
        {
            OpenAiEndpoints.ThrowIfDraining(services);
            var request = ResponsesRequest.Parse(await OpenAiEndpoints.ReadBodyAsync(http, services.GetRequiredService<IOptions<GatewayOptions>>().Value.MaxRequestBytes));
            var grains = services.GetRequiredService<IGrainFactory>();
            var tenant = http.Features.Get<Tenant>();
            var owner = GenerationRunner.OwnerOf(tenant);
            var earlier = new List<ChatMessage>();
            if (request.PreviousResponseId is { } previous)
            {
                var stored = await grains.GetGrain<IStoredResponseGrain>(previous).Load(owner) ?? throw NotFound(previous, "previous_response_id");
                earlier.AddRange(ChatMessages.Parser.ParseJson(stored.ConversationJson).Messages);
            }
            call = request.ToCall(earlier);
            var model = await services.GetRequiredService<ModelCatalog>().GetAsync(RequestFields.Model(call.Request.Model), http.RequestAborted);
            var answering = answer = new ResponsesAnswer(request, call, model.Name, model.Tokenizer);
            await services.GetRequiredService<GenerationRunner>().RunAsync(model, call.Request, tenant, deadline: null, "openai",
                (message, token) => answering.AddAsync(http, message, token), http.RequestAborted);
            if (request.Store)
            {
                // Stored before the client hears of it, so a next request that names it at once finds it.
                var conversation = new ChatMessages();
                conversation.Messages.AddRange(earlier);
                conversation.Messages.AddRange(request.Input);
                conversation.Messages.Add(answering.AssistantTurn());
                await grains.GetGrain<IStoredResponseGrain>(answering.Id).Save(
                    new StoredResponse(owner, model.Name, JsonFormatter.Default.Format(conversation), answering.ToJson().ToJsonString()));
            }
            if (request.Stream)
            {
                await answering.CompleteStreamAsync(http, http.RequestAborted);
            }
            else
            {
                await http.Response.WriteAsJsonAsync(answering.ToJson(), http.RequestAborted);
            }
        }, error => answer?.StreamErrorAsync(http, error) ?? Task.CompletedTask);
    }

    private static async Task GetAsync(HttpContext http, IGrainFactory grains, string id)
    {
        await OpenAiEndpoints.RespondAsync(http, null, async () =>
        {
            var stored = await grains.GetGrain<IStoredResponseGrain>(id).Load(GenerationRunner.OwnerOf(http.Features.Get<Tenant>())) ?? throw NotFound(id, null);
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(stored.ResponseJson, http.RequestAborted);
        });
    }

    private static async Task DeleteAsync(HttpContext http, IGrainFactory grains, string id)
    {
        await OpenAiEndpoints.RespondAsync(http, null, async () =>
        {
            if (!await grains.GetGrain<IStoredResponseGrain>(id).Delete(GenerationRunner.OwnerOf(http.Features.Get<Tenant>())))
            {
                throw NotFound(id, null);
            }
            await http.Response.WriteAsJsonAsync(new System.Text.Json.Nodes.JsonObject { ["id"] = id, ["object"] = "response", ["deleted"] = true }, http.RequestAborted);
        });
    }

    private static OpenAiError NotFound(string id, string? param) => new(404,
        $"Response with id '{id}' not found: it was not stored (store: false), was deleted, belongs to another API key, or was dropped (unused for an hour, its silo's memory for stored responses full, or its silo gone); send the whole conversation in input.",
        "invalid_request_error", param, "not_found");
}
