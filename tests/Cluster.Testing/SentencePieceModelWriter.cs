using System.Buffers.Binary;
using System.Text;

namespace Cluster.Testing;

/// <summary>
/// Writes a SentencePiece ModelProto in protobuf wire format by hand (a dozen fields; not worth a generated class).
/// Field numbers from sentencepiece_model.proto: ModelProto{pieces=1, trainer_spec=2, normalizer_spec=3},
/// SentencePiece{piece=1, score=2 (float), type=3}, TrainerSpec{model_type=3, vocab_size=4, byte_fallback=35,
/// unk_id=40, bos_id=41, eos_id=42, unk_piece=45, bos_piece=46, eos_piece=47},
/// NormalizerSpec{name=1, add_dummy_prefix=3, remove_extra_whitespaces=4, escape_whitespaces=5}.
/// </summary>
internal static class SentencePieceModelWriter
{
    private const int ModelTypeBpe = 2;

    public static byte[] Write(IReadOnlyList<(string Piece, float Score, PieceType Type)> pieces)
    {
        var model = new ProtoWriter();
        foreach ((string piece, float score, PieceType type) in pieces)
        {
            var message = new ProtoWriter();
            message.String(1, piece);
            message.Float(2, score);
            message.Varint(3, (ulong)type);
            model.Message(1, message);
        }

        var trainer = new ProtoWriter();
        trainer.Varint(3, ModelTypeBpe);
        trainer.Varint(4, (ulong)pieces.Count);
        trainer.Varint(35, 1); // byte_fallback: unknown characters become <0xNN> pieces, as in Llama 2
        trainer.Varint(40, 0);
        trainer.Varint(41, 1);
        trainer.Varint(42, 2);
        trainer.String(45, "<unk>");
        trainer.String(46, "<s>");
        trainer.String(47, "</s>");
        model.Message(2, trainer);

        // Llama 2's normalizer: no NFKC table, a leading "▁", runs of spaces kept (code indentation survives).
        var normalizer = new ProtoWriter();
        normalizer.String(1, "identity");
        normalizer.Varint(3, 1);
        normalizer.Varint(4, 0);
        normalizer.Varint(5, 1);
        model.Message(3, normalizer);

        return model.ToArray();
    }

    private sealed class ProtoWriter
    {
        private readonly MemoryStream _buffer = new();

        public void Varint(int field, ulong value)
        {
            Tag(field, 0);
            RawVarint(value);
        }

        public void Float(int field, float value)
        {
            Tag(field, 5);
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
            _buffer.Write(bytes);
        }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public void Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => _buffer.ToArray();

        private void Bytes(int field, byte[] value)
        {
            Tag(field, 2);
            RawVarint((ulong)value.Length);
            _buffer.Write(value);
        }

        private void Tag(int field, int wireType) => RawVarint(((ulong)field << 3) | (uint)wireType);

        private void RawVarint(ulong value)
        {
            while (value >= 0x80)
            {
                _buffer.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }

            _buffer.WriteByte((byte)value);
        }
    }
}
