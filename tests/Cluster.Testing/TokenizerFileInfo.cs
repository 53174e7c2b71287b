namespace Cluster.Testing;

/// <summary>What a tokenizer written by <see cref="TinyTokenizerFiles"/> should load as, for tests to compare against.</summary>
public sealed record TokenizerFileInfo(int VocabularySize, int? BosTokenId, IReadOnlyList<int> EosTokenIds);
