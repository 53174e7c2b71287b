using System.Text.Json;
using System.Text.Json.Nodes;
using Cluster.Contracts.Api;
using Cluster.Gateway.Auth;
using Cluster.Gateway.Models;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Services;
using Grpc.Core;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// The OpenAI-compatible HTTP API, the gateway's second front door: <c>GET /v1/models</c>, <c>POST /v1/completions</c>,
/// <c>POST /v1/chat/completions</c> (streamed as server-sent events with <c>"stream": true</c>), <c>POST /v1/embeddings</c>
/// and the Responses API (<see cref="ResponsesEndpoints"/>). Every request runs
/// through <see cref="GenerationRunner"/>, like gRPC Generate: the same validation, API keys and limits, scheduler,
/// KV budget, metrics and traces. Served on every HTTP endpoint of the gateway; the "OpenAi" endpoint in
/// appsettings.json (port 8000, vLLM's) takes HTTP/1.1, which the SDKs speak.
/// </summary>
internal static class OpenAiEndpoints
{
    public static WebApplication MapOpenAi(this WebApplication app, bool keysRequired)
    {
        var v1 = app.MapGroup("/v1");
        v1.MapGet("/models", ListModelsAsync);
        v1.MapGet("/models/{**model}", GetModelAsync);
        v1.MapPost("/completions", (HttpContext http) => GenerateAsync(http, OpenAiEndpoint.Completions));
        v1.MapPost("/chat/completions", (HttpContext http) => GenerateAsync(http, OpenAiEndpoint.ChatCompletions));
        v1.MapPost("/embeddings", EmbedAsync);
        v1.MapResponses();
        v1.WithMetadata(new UnauthenticatedResponse((response, message) => OpenAiError.Unauthorized(message).WriteAsync(response)));
        // vLLM's tokenizer endpoints sit at the root, beside /v1.
        var root = app.MapGroup("").MapTokenizer();
        root.WithMetadata(new UnauthenticatedResponse((response, message) => OpenAiError.Unauthorized(message).WriteAsync(response)));
        if (keysRequired)
        {
            v1.RequireAuthorization();
            root.RequireAuthorization();
        }
        return app;
    }

    private static async Task ListModelsAsync(HttpContext http, ModelCatalog catalog)
    {
        await RespondAsync(http, null, async () =>
        {
            var models = await catalog.AllAsync(http.RequestAborted);
            await http.Response.WriteAsJsonAsync(new JsonObject
            {
                ["object"] = "list",
                ["data"] = new JsonArray([.. models.Select(m => (JsonNode)ModelJson(m))]),
            });
        });
    }

    private static async Task GetModelAsync(HttpContext http, ModelCatalog catalog, string model)
    {
        await RespondAsync(http, null, async () =>
        {
            var served = await catalog.GetAsync(RequestFields.Model(model), http.RequestAborted);
            await http.Response.WriteAsJsonAsync(ModelJson(served));
        });
    }

    /// <summary>OpenAI's model object, with vLLM's <c>max_model_len</c> (the context length) for clients that size prompts by it.</summary>
    private static JsonObject ModelJson(ServedModel model) => new()
    {
        ["id"] = model.Name,
        ["object"] = "model",
        ["created"] = 0,
        ["owned_by"] = "cluster",
        ["max_model_len"] = model.Replicas[0].Descriptions[0].ContextLength,
    };

    private static async Task GenerateAsync(HttpContext http, OpenAiEndpoint endpoint)
    {
        var services = http.RequestServices;
        OpenAiRequest? call = null;
        await RespondAsync(http, () => call, async () =>
        {
            ThrowIfDraining(services);
            call = OpenAiRequest.Parse(endpoint, await ReadBodyAsync(http, services.GetRequiredService<IOptions<GatewayOptions>>().Value.MaxRequestBytes));
            var model = await services.GetRequiredService<ModelCatalog>().GetAsync(RequestFields.Model(call.Request.Model), http.RequestAborted);
            var response = new OpenAiResponse(call, model.Name, model.Tokenizer);
            var runner = services.GetRequiredService<GenerationRunner>();
            var tenant = http.Features.Get<Tenant>();
            using var writing = new SemaphoreSlim(1, 1); // the choices' messages, one at a time, into the response and the stream
            await ChoicesAsync(call.Choices, http.RequestAborted, (index, cancellation) =>
                runner.RunAsync(model, call.ForChoice(index), tenant, deadline: null, "openai", async (message, token) =>
                {
                    await writing.WaitAsync(token);
                    try
                    {
                        await AddAsync(http, call, response, index, message, token);
                    }
                    finally
                    {
                        writing.Release();
                    }
                }, cancellation));
            if (!call.Stream)
            {
                await http.Response.WriteAsJsonAsync(response.Completion(), http.RequestAborted);
                return;
            }
            if (call.IncludeUsage)
            {
                await WriteEventAsync(http, response.UsageChunk().ToJsonString(), http.RequestAborted);
            }
            await WriteEventAsync(http, "[DONE]", http.RequestAborted);
        });
    }

    /// <summary>
    /// One message of choice <paramref name="index"/>: kept for the whole completion, or streamed as its chunk (after the
    /// choice's opening chunk, and after the stream's headers, which go with the first token: a request refused before
    /// it, for a bad field, a full queue or a key's limit, still gets its HTTP status, as a non-streamed one does).
    /// </summary>
    private static async Task AddAsync(HttpContext http, OpenAiRequest call, OpenAiResponse response, int index, GenerateResponse message, CancellationToken cancellation)
    {
        if (!call.Stream)
        {
            response.Add(index, message);
            return;
        }
        BeginEventStream(http);
        if (response.OpeningChunk(index, message) is { } opening)
        {
            await WriteEventAsync(http, opening.ToJsonString(), cancellation);
        }
        if (response.Chunk(index, message) is { } chunk)
        {
            await WriteEventAsync(http, chunk.ToJsonString(), cancellation);
        }
    }

    /// <summary>
    /// Runs <paramref name="count"/> choices at once (each its own sequence in the scheduler, so they batch together
    /// and share the prompt's prefix-cache blocks). The first choice that fails stops the others, and its error is the
    /// request's, not the cancellation it caused.
    /// </summary>
    private static async Task ChoicesAsync(int count, CancellationToken aborted, Func<int, CancellationToken, Task> run)
    {
        if (count == 1)
        {
            await run(0, aborted);
            return;
        }
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        Exception? cause = null; // the first failure in time; the others may only be the cancellation it caused
        var choices = Enumerable.Range(0, count).Select(async index =>
        {
            try
            {
                await run(index, failed.Token);
            }
            catch (Exception error)
            {
                Interlocked.CompareExchange(ref cause, error, null);
                await failed.CancelAsync();
                throw;
            }
        }).ToArray();
        try
        {
            await Task.WhenAll(choices);
        }
        catch when (cause is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause);
        }
    }

    private static async Task EmbedAsync(HttpContext http)
    {
        var services = http.RequestServices;
        await RespondAsync(http, null, async () =>
        {
            ThrowIfDraining(services);
            var (request, base64, dimensions) = OpenAiEmbeddings.Parse(await ReadBodyAsync(http, services.GetRequiredService<IOptions<GatewayOptions>>().Value.MaxRequestBytes));
            var model = await services.GetRequiredService<ModelCatalog>().GetAsync(RequestFields.Model(request.Model), http.RequestAborted);
            var response = await EmbeddingRunner.RunAsync(model, request, http.Features.Get<Tenant>(), http.RequestAborted);
            if (dimensions is { } asked && asked != response.Dimensions)
            {
                throw OpenAiError.BadRequest($"dimensions must be the model's width, {response.Dimensions}; got {asked} (vectors are not truncated)", "dimensions");
            }
            await http.Response.WriteAsJsonAsync(OpenAiEmbeddings.ToJson(response, model.Name, base64), http.RequestAborted);
        });
    }

    /// <summary>
    /// Runs a handler and answers its refusal as OpenAI does: the error object with its HTTP status before anything was
    /// sent; an <c>error</c> event and the terminator once a stream has begun. A client that went away gets nothing.
    /// </summary>
    /// <param name="streamError">Writes the error once a stream has begun, where the endpoint's stream has its own error event.</param>
    internal static async Task RespondAsync(HttpContext http, Func<OpenAiRequest?>? call, Func<Task> handle, Func<OpenAiError, Task>? streamError = null)
    {
        OpenAiError error;
        try
        {
            await handle();
            return;
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        catch (OpenAiError refused)
        {
            error = refused;
        }
        catch (RpcException refused)
        {
            var request = call?.Invoke();
            error = OpenAiError.FromRpc(refused, request is null ? message => message : request.FieldNames);
        }
        if (!http.Response.HasStarted)
        {
            await error.WriteAsync(http.Response);
            return;
        }
        try
        {
            if (streamError is not null)
            {
                await streamError(error);
                return;
            }
            await WriteEventAsync(http, error.ToJson().ToJsonString(), http.RequestAborted);
            await WriteEventAsync(http, "[DONE]", http.RequestAborted);
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested)
        {
        }
    }

    /// <summary>A gateway that is stopping takes no new generation (503, so the client retries on another one).</summary>
    internal static void ThrowIfDraining(IServiceProvider services)
    {
        if (services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested)
        {
            throw OpenAiError.Draining();
        }
    }

    /// <summary>Sends a server-sent-event stream's headers, once: no caching, no buffering between events.</summary>
    internal static void BeginEventStream(HttpContext http)
    {
        if (http.Response.HasStarted)
        {
            return;
        }
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    /// <summary>The body as JSON, read under the gateway's request size limit (the same as gRPC's, Gateway:MaxRequestBytes).</summary>
    internal static async Task<JsonElement> ReadBodyAsync(HttpContext http, int maxBytes)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = maxBytes;
        }
        if (http.Request.ContentLength > maxBytes)
        {
            throw TooLarge(maxBytes);
        }
        try
        {
            using var document = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            return document.RootElement.Clone();
        }
        catch (JsonException invalid)
        {
            throw OpenAiError.BadRequest($"The request body is not valid JSON: {invalid.Message}", null);
        }
        catch (BadHttpRequestException tooLarge) when (tooLarge.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(maxBytes);
        }
    }

    private static OpenAiError TooLarge(int maxBytes) =>
        new(413, $"The request body is larger than {maxBytes} bytes, this gateway's limit (Gateway:MaxRequestBytes).", "invalid_request_error");

    /// <summary>One server-sent event, flushed at once; <paramref name="type"/> names it (the Responses API's typed events).</summary>
    internal static async Task WriteEventAsync(HttpContext http, string data, CancellationToken cancellation, string? type = null)
    {
        await http.Response.WriteAsync(type is null ? $"data: {data}\n\n" : $"event: {type}\ndata: {data}\n\n", cancellation);
        await http.Response.Body.FlushAsync(cancellation);
    }
}
