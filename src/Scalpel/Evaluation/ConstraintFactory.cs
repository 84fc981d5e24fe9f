using Scalpel.Generation;
using Scalpel.Generation.Constraints;

namespace Scalpel.Evaluation;

/// <summary>The decoding constraint a task's generation settings ask for (choices or a JSON schema), compiled once per task.</summary>
public static class ConstraintFactory
{
    /// <summary>A maker of fresh constraints (one per sequence), or null for free text. A schema or choice list that
    /// cannot be compiled fails here, before any example runs.</summary>
    public static Func<ITokenConstraint>? For(InferenceModel model, TaskGeneration settings)
    {
        TokenGrammar grammar;
        try
        {
            if (settings.Choices is { } choices) grammar = TokenGrammar.Choice(model.Vocabulary, choices);
            else if (settings.JsonSchema is { } schema) grammar = TokenGrammar.JsonSchema(model.Vocabulary, schema);
            else return null;
        }
        catch (Exception e) when (e is NotSupportedException or ArgumentException)
        {
            throw new EvalSuiteException($"generation constraint: {e.Message}");
        }
        return grammar.Start;
    }
}
