using Cluster.Engine.Model;
using Cluster.Testing;

namespace Cluster.Engine.Tests;

/// <summary>Tiny Llama (grouped-query, untied) and GPT-2 checkpoints written once per test class, and their full models.</summary>
public sealed class TinyModelFixture : IDisposable
{
    private readonly TempDirectory _llamaDir = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama);
    private readonly TempDirectory _gpt2Dir = TinyCheckpoint.WriteTemporary(TinyModelOptions.Gpt2);

    public TinyModelFixture()
    {
        Llama = ModelShard.Load(_llamaDir.Path);
        Gpt2 = ModelShard.Load(_gpt2Dir.Path);
    }

    public ModelShard Llama { get; }
    public ModelShard Gpt2 { get; }

    public string Directory(string architecture) => architecture == "gpt2" ? _gpt2Dir.Path : _llamaDir.Path;

    public ModelShard Model(string architecture) => architecture == "gpt2" ? Gpt2 : Llama;

    public void Dispose()
    {
        Llama.Dispose();
        Gpt2.Dispose();
        _llamaDir.Dispose();
        _gpt2Dir.Dispose();
    }
}
