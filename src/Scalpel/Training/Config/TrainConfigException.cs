namespace Scalpel.Training.Config;

/// <summary>
/// A training config Scalpel cannot use. <see cref="Errors"/> holds every problem found, one line each, naming the
/// file and line (or the <c>--set</c> override) and the field path; <see cref="Exception.Message"/> lists them all.
/// </summary>
public sealed class TrainConfigException(string source, IReadOnlyList<string> errors) : Exception(Format(source, errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;

    private static string Format(string source, IReadOnlyList<string> errors) => errors.Count switch
    {
        0 => $"{source}: invalid config",
        1 => errors[0],
        _ => $"{errors.Count} problems in {source}:\n  " + string.Join("\n  ", errors),
    };
}
