namespace Cluster.Tokenizers;

/// <summary>What a Split pre-tokenizer does with the text its pattern matches (tokenizer.json's "behavior").</summary>
internal enum SplitBehavior
{
    /// <summary>The match is dropped.</summary>
    Removed,

    /// <summary>The match is a piece of its own (Llama 3, Qwen2, and ByteLevel's own regex).</summary>
    Isolated,

    /// <summary>The match is glued to the end of the piece before it.</summary>
    MergedWithPrevious,

    /// <summary>The match is glued to the start of the piece after it.</summary>
    MergedWithNext,

    /// <summary>Adjacent matches form one piece (Digits without individual_digits).</summary>
    Contiguous,
}
