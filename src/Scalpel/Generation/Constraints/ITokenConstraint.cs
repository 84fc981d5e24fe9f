namespace Scalpel.Generation.Constraints;

/// <summary>A grammar the output of one sequence must follow, applied by masking the tokens it cannot accept next.</summary>
public interface ITokenConstraint
{
    /// <summary>Sets −∞ on every token the grammar cannot accept next; stop tokens only when <see cref="IsComplete"/>.</summary>
    void MaskLogits(Span<float> logits);
    /// <summary>Advances past a token; throws if the token was not allowed.</summary>
    void Accept(int tokenId);
    /// <summary>The output so far is a complete answer (a stop token is allowed).</summary>
    bool IsComplete { get; }
    /// <summary>Complete, and nothing more can follow: generation ends now.</summary>
    bool MustStop { get; }
}
