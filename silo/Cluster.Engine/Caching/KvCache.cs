using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Caching;

/// <summary>
/// The keys and values of one sequence for the layers of one shard, written in place at their positions.
/// Storage is one tensor per kind, (layers, kvHeads, capacity, headDim), in the placement's KV dtype (the activations'
/// or bf16, <see cref="Configuration.EngineOptions.KvCacheDType"/>), allocated in blocks of
/// <see cref="BlockTokens"/> positions: reserve the expected length up front (<see cref="Reserve"/>) and it
/// is never reallocated while decoding; beyond that it grows by whole blocks (doubling), never by one step's
/// concatenation. Not tracked by any dispose scope: dispose it when the sequence ends.
/// </summary>
public sealed class KvCache : IDisposable
{
    public const int BlockTokens = 64;

    private readonly int _layers;
    private readonly int _kvHeads;
    private readonly int _headDim;
    private readonly ScalarType _dtype;
    private readonly Device _device;
    private readonly int _elementSize;
    private Tensor _keys;   // (layers, kvHeads, capacity, headDim)
    private Tensor _values; // (layers, kvHeads, capacity, headDim)
    private int _capacity;  // _keys.shape[2], kept here: reading a tensor's shape is a native call, and a stage sums every cache's bytes at each step
    private nint _keysAddress;   // host memory of _keys (0 off the host): read once per allocation, not per layer and step
    private nint _valuesAddress; // likewise for _values

    internal KvCache(int layers, int kvHeads, int headDim, int maxPositions, ScalarType dtype, Device device, int reserveTokens)
    {
        _layers = layers;
        _kvHeads = kvHeads;
        _headDim = headDim;
        MaxPositions = maxPositions;
        _dtype = dtype;
        _device = device;
        _capacity = InitialCapacity(reserveTokens);
        (_keys, _values) = Allocate(_capacity);
        _elementSize = (int)_keys.ElementSize;
        ReadAddresses();
    }

    /// <summary>Positions written so far: the next chunk starts here (or earlier, to overwrite a suffix).</summary>
    public int Length { get; private set; }

    /// <summary>Positions the storage holds without reallocating.</summary>
    public int Capacity => _capacity;

    public int MaxPositions { get; }

    /// <summary>Bytes held by keys and values together.</summary>
    public long Bytes => 2L * _layers * _kvHeads * Capacity * _headDim * _elementSize;

    public bool IsDisposed { get; private set; }

    /// <summary>Bytes one position costs in this cache (all its layers, keys and values).</summary>
    public long BytesPerToken => 2L * _layers * _kvHeads * _headDim * _elementSize;

    /// <summary>Makes room for <paramref name="tokens"/> positions in total, reallocating at most once.</summary>
    public void Reserve(int tokens)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (tokens > MaxPositions)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), $"{tokens} positions exceed the model's context length of {MaxPositions}.");
        }
        if (tokens <= Capacity)
        {
            return;
        }
        var capacity = CapacityAfterReserve(tokens);
        using (torch.inference_mode())
        {
            var (keys, values) = Allocate(capacity);
            keys.narrow(2, 0, Length).copy_(_keys.narrow(2, 0, Length));
            values.narrow(2, 0, Length).copy_(_values.narrow(2, 0, Length));
            _keys.Dispose();
            _values.Dispose();
            (_keys, _values, _capacity) = (keys, values, capacity);
            ReadAddresses();
        }
    }

    /// <summary>
    /// The capacity <see cref="Reserve"/>(<paramref name="tokens"/>) would leave: unchanged when it fits, else the
    /// larger of the request and double the current capacity, in whole blocks, capped at the context length.
    /// Lets a memory budget be checked before anything is allocated.
    /// </summary>
    public int CapacityAfterReserve(int tokens) =>
        tokens <= Capacity ? Capacity : Math.Min(RoundUp(Math.Max(tokens, 2 * Capacity)), RoundUp(MaxPositions));

    /// <summary>The capacity of a new cache created with room for <paramref name="reserveTokens"/> positions.</summary>
    public static int InitialCapacity(int reserveTokens) => RoundUp(Math.Max(reserveTokens, 1));

    /// <summary>Forgets positions from <paramref name="length"/> on (a conversation rewound to a shared prefix).</summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"Cannot truncate a cache of {Length} positions to {length}.");
        }
        Length = length;
    }

    /// <summary>
    /// Makes this cache hold the first <paramref name="length"/> positions of <paramref name="source"/> (a prefix another
    /// sequence computed): one copy per kind, all layers at once, instead of recomputing them. Both caches must be of
    /// the same shard; this one must have the capacity.
    /// </summary>
    public void CopyPrefixFrom(KvCache source, int length)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        ObjectDisposedException.ThrowIf(source.IsDisposed, source);
        if (length < 0 || length > source.Length || length > Capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"Cannot copy {length} positions from a cache of {source.Length} into one of capacity {Capacity}.");
        }
        if (source._layers != _layers || source._kvHeads != _kvHeads || source._headDim != _headDim || source._dtype != _dtype)
        {
            throw new ArgumentException("The source cache belongs to a different shard (layers, heads, head size or dtype differ).", nameof(source));
        }
        using (torch.inference_mode())
        {
            _keys.narrow(2, 0, length).copy_(source._keys.narrow(2, 0, length));       // (layers, kvHeads, length, headDim)
            _values.narrow(2, 0, length).copy_(source._values.narrow(2, 0, length));   // (layers, kvHeads, length, headDim)
        }
        Length = length;
    }

    /// <summary>Writes <paramref name="keys"/>/<paramref name="values"/> (kvHeads, T, headDim) of one layer at positions [start, start+T).</summary>
    internal void Write(int layer, int start, Tensor keys, Tensor values)
    {
        var t = keys.shape[1];
        _keys[layer].narrow(1, start, t).copy_(keys);
        _values[layer].narrow(1, start, t).copy_(values);
    }

    /// <summary>Keys of one layer for positions [0, length): a view, (kvHeads, length, headDim).</summary>
    internal Tensor Keys(int layer, int length) => _keys[layer].narrow(1, 0, length);

    /// <summary>Values of one layer for positions [0, length): a view, (kvHeads, length, headDim).</summary>
    internal Tensor Values(int layer, int length) => _values[layer].narrow(1, 0, length);

    internal void Advance(int newLength) => Length = newLength;

    /// <summary>True when the storage is fp32 or bf16 host memory, which the C# decode-attention kernel reads and writes in place.</summary>
    internal bool IsHostKernelCache => _device.type == DeviceType.CPU && _dtype is ScalarType.Float32 or ScalarType.BFloat16;

    /// <summary>True when the storage holds bf16 (the kernel rounds what it writes and widens what it reads).</summary>
    internal bool IsBFloat16 => _dtype == ScalarType.BFloat16;

    /// <summary>Address of one layer's keys, (kvHeads, capacity, headDim); valid until the next <see cref="Reserve"/> that grows.</summary>
    internal nint KeyData(int layer) => HostAddress(_keysAddress) + LayerBytes(layer);

    /// <summary>Address of one layer's values, (kvHeads, capacity, headDim); valid until the next <see cref="Reserve"/> that grows.</summary>
    internal nint ValueData(int layer) => HostAddress(_valuesAddress) + LayerBytes(layer);

    private nint HostAddress(nint address)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return address != 0 ? address : throw new InvalidOperationException($"This KV cache lives on {_device}; only a host cache has an address the kernels read.");
    }

    private unsafe void ReadAddresses() => (_keysAddress, _valuesAddress) = _device.type == DeviceType.CPU
        ? ((nint)Model.TensorMemory.Address(_keys), (nint)Model.TensorMemory.Address(_values))
        : (0, 0);

    private nint LayerBytes(int layer) => checked((nint)((long)layer * _kvHeads * Capacity * _headDim * _elementSize));

    private (Tensor Keys, Tensor Values) Allocate(int capacity)
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        long[] shape = [_layers, _kvHeads, capacity, _headDim];
        // Left unwritten: every read stops at the positions written (Keys, Values, the decode kernel's [0, Position]).
        // Zeroing touched every page of the capacity up front: 31 new sequences' caches (434 MB) took 0.9 s of page
        // faults before their prefill on this VM, where unwritten pages are faulted in only as positions fill them.
        var keys = torch.empty(shape, _dtype, _device);
        var values = torch.empty(shape, _dtype, _device);
        return (keys.DetachFromDisposeScope(), values.DetachFromDisposeScope());
    }

    private static int RoundUp(int tokens) => (tokens + BlockTokens - 1) / BlockTokens * BlockTokens;

    public void Dispose()
    {
        if (IsDisposed)
        {
            return;
        }
        IsDisposed = true;
        _keys.Dispose();
        _values.Dispose();
    }
}
