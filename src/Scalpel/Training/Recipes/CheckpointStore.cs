using System.Globalization;

namespace Scalpel.Training.Recipes;

/// <summary>
/// The checkpoints of a run folder: <c>checkpoints/step-000120/</c>. Each is written into a temp folder and renamed
/// when complete, so a crash never leaves a checkpoint that looks whole. Keeps the newest <c>keep</c> and, always,
/// the best one.
/// </summary>
public sealed class CheckpointStore(string runDirectory, int keep)
{
    private const string Prefix = "step-";
    public string Root { get; } = Path.Combine(runDirectory, "checkpoints");

    public string PathFor(int step) => Path.Combine(Root, Prefix + step.ToString("D6", CultureInfo.InvariantCulture));

    /// <summary>Writes a checkpoint: <paramref name="write"/> fills the temp folder it is given.</summary>
    public string Save(int step, Action<string> write, int? protectedStep)
    {
        Directory.CreateDirectory(Root);
        string final = PathFor(step);
        string temp = final + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(temp);
        try
        {
            write(temp);
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
            Directory.Move(temp, final);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
        Prune(protectedStep);
        return final;
    }

    /// <summary>Complete checkpoints, oldest first.</summary>
    public IReadOnlyList<(int Step, string Path)> List()
    {
        if (!Directory.Exists(Root)) return [];
        var found = new List<(int, string)>();
        foreach (var dir in Directory.EnumerateDirectories(Root))
        {
            string name = System.IO.Path.GetFileName(dir);
            if (name.StartsWith(Prefix, StringComparison.Ordinal) && !name.Contains(".tmp-", StringComparison.Ordinal)
                && int.TryParse(name[Prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int step))
                found.Add((step, dir));
        }
        return found.OrderBy(c => c.Item1).ToList();
    }

    public (int Step, string Path)? Latest => List() is { Count: > 0 } all ? all[^1] : null;

    private void Prune(int? protectedStep)
    {
        var all = List();
        foreach (var (step, path) in all.Take(Math.Max(0, all.Count - keep)))
            if (step != protectedStep) Directory.Delete(path, recursive: true);
        // Temp folders of crashed saves.
        foreach (var dir in Directory.EnumerateDirectories(Root, Prefix + "*.tmp-*")) Directory.Delete(dir, recursive: true);
    }
}
