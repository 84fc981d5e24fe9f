using Scalpel.Generation;
using Scalpel.Generation.Constraints;

namespace Scalpel.Evaluation;

public static class ConstraintFactory
{
    public static Func<ITokenConstraint>? For(InferenceModel model, TaskGeneration settings) =>
        settings.Choices is null && settings.JsonSchema is null ? null : throw new NotSupportedException("pending merge");
}
