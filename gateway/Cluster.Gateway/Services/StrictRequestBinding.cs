using Cluster.Contracts.Api;
using Cluster.Gateway.Requests;
using Google.Protobuf;
using Grpc.Core;

namespace Cluster.Gateway.Services;

/// <summary>
/// Binds <see cref="GenerationService"/> as the generated code does, but with request deserializers that first check
/// the raw bytes (<see cref="Utf8Fields"/>) and turn a parse failure into INVALID_ARGUMENT. grpc-dotnet gives a
/// deserializer's <see cref="RpcException"/> to the client as is; any other exception there becomes UNKNOWN.
/// Found by grpc-dotnet through <see cref="BindServiceMethodAttribute"/> on the service class; the second parameter
/// must be the generated base class, whose virtual methods grpc-dotnet looks for overrides of.
/// </summary>
internal static class StrictRequestBinding
{
    /// <summary>
    /// The service's descriptor, where gRPC JSON transcoding looks for it: on the type that declares the bind method
    /// (here, not the generated class), to read the google.api.http routes of its methods.
    /// </summary>
    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => Generation.Descriptor;

    public static void BindService(ServiceBinderBase binder, Generation.GenerationBase? service) =>
        Generation.BindService(new StrictBinder(binder), service);

    private static Marshaller<T> Strict<T>(Marshaller<T> generated)
    {
        var descriptor = ((IMessage)Activator.CreateInstance<T>()!).Descriptor;
        return new Marshaller<T>(generated.ContextualSerializer, context =>
        {
            Utf8Fields.Check(context.PayloadAsReadOnlySequence(), descriptor);
            try
            {
                return generated.ContextualDeserializer(context);
            }
            catch (InvalidProtocolBufferException malformed)
            {
                throw Utf8Fields.NotAMessage(descriptor, malformed);
            }
        });
    }

    private static Method<TRequest, TResponse> Strict<TRequest, TResponse>(Method<TRequest, TResponse> method) =>
        new(method.Type, method.ServiceName, method.Name, Strict(method.RequestMarshaller), method.ResponseMarshaller);

    /// <summary>Passes every method on to grpc-dotnet's binder with its request marshaller made strict.</summary>
    private sealed class StrictBinder(ServiceBinderBase inner) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Strict(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Strict(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Strict(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(Strict(method), handler);
    }
}
