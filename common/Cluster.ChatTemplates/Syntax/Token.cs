namespace Cluster.ChatTemplates.Syntax;

internal enum TokenKind
{
    /// <summary>Template text between tags, already trimmed by whitespace control.</summary>
    Text,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    /// <summary>A string literal; <see cref="Token.Text"/> holds its value with escapes resolved.</summary>
    String,
    Integer,
    Float,
    Operator,
    EndOfTemplate,
}

/// <summary>One token, with its 1-based position in the template source for error messages.</summary>
internal sealed record Token(TokenKind Kind, string Text, int Line, int Column)
{
    public bool Is(TokenKind kind, string text) => Kind == kind && Text == text;

    public bool IsName(string name) => Is(TokenKind.Name, name);

    public bool IsOperator(string op) => Is(TokenKind.Operator, op);

    public override string ToString() => Kind switch
    {
        TokenKind.EndOfTemplate => "end of template",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.String => $"string '{Text}'",
        _ => $"'{Text}'",
    };
}
