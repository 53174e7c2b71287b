using System.Buffers;
using System.Text.Unicode;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Cluster.Gateway.Requests;

/// <summary>
/// Checks a request's raw protobuf bytes before they are parsed: every string field, nested ones included, must be
/// valid UTF-8. Google.Protobuf's C# parser does not check (it replaces invalid bytes with U+FFFD, so a broken prompt
/// would be tokenized as if the client had sent replacement characters); proto3 says such a message is invalid.
/// Also turns bytes that are no protobuf message at all into INVALID_ARGUMENT instead of the library's UNKNOWN.
/// </summary>
public static class Utf8Fields
{
    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT naming the field, or saying the bytes are no message.</exception>
    public static void Check(ReadOnlySequence<byte> payload, MessageDescriptor descriptor)
    {
        try
        {
            Check(new CodedInputStream(payload.ToArray()), descriptor, "");
        }
        catch (InvalidProtocolBufferException malformed)
        {
            throw NotAMessage(descriptor, malformed);
        }
    }

    /// <summary>What a request that fails to parse gets: INVALID_ARGUMENT with the parser's reason.</summary>
    public static Grpc.Core.RpcException NotAMessage(MessageDescriptor descriptor, InvalidProtocolBufferException malformed) =>
        InvalidArgument.Error($"the request is not a valid {descriptor.FullName} message: {malformed.Message}");

    private static void Check(CodedInputStream input, MessageDescriptor descriptor, string path)
    {
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var field = descriptor.FindFieldByNumber(WireFormat.GetTagFieldNumber(tag));
            bool lengthDelimited = WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited;
            if (field is null || !lengthDelimited || field.FieldType is not (FieldType.String or FieldType.Message))
            {
                input.SkipLastField();
                continue;
            }
            string name = path + field.Name;
            ByteString bytes = input.ReadBytes();
            if (field.FieldType == FieldType.Message)
            {
                Check(bytes.CreateCodedInput(), field.MessageType, name + ".");
            }
            else if (!Utf8.IsValid(bytes.Span))
            {
                throw InvalidArgument.Error($"{name} is not valid UTF-8 ({bytes.Length} bytes); string fields must be UTF-8 encoded");
            }
        }
    }
}
