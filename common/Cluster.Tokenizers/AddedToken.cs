namespace Cluster.Tokenizers;

/// <summary>
/// A token matched whole in the input before any splitting (Hugging Face "added token"), such as "&lt;|endoftext|&gt;".
/// Special ones are also the ones Decode skips when asked to skip special tokens.
/// </summary>
internal sealed record AddedToken(string Content, int Id, bool Special);
