using Scalpel.Training.Config;

namespace Scalpel.Cli.Commands;

/// <summary><c>scalpel init --model DIR --data TRAIN [--validation FILE] [--out config.yaml] [--force]</c>.</summary>
internal static class InitCommand
{
    private const string Usage = "usage: scalpel init --model DIR --data TRAIN.jsonl [--validation FILE] [--out config.yaml] [--force]";

    public static int Run(string[] args)
    {
        string? model = null, data = null, validation = null, output = "config.yaml";
        bool force = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value\n{Usage}");
            switch (args[i])
            {
                case "--model": model = Value(); break;
                case "--data": data = Value(); break;
                case "--validation": validation = Value(); break;
                case "--out": output = Value(); break;
                case "--force": force = true; break;
                default: throw new UsageException($"unknown option '{args[i]}'\n{Usage}");
            }
        }
        if (model is null || data is null) throw new UsageException(Usage);
        if (!Directory.Exists(model)) throw new UsageException($"{model}: no such model folder");
        if (!File.Exists(data)) throw new UsageException($"{data}: no such data file");
        if (File.Exists(output) && !force) throw new IOException($"{output} already exists; pass --force to overwrite it");

        string configDir = Path.GetDirectoryName(Path.GetFullPath(output))!;
        string runDir = Path.Combine(configDir, "runs", Path.GetFileName(Path.GetFullPath(model).TrimEnd('/')) + "-" + Path.GetFileNameWithoutExtension(data));
        var result = StarterConfig.Create(model, data, validation, runDir, configDir);
        TrainConfig.Parse(result.Yaml, output, [], configDir);   // what we write must load
        string temp = output + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllText(temp, result.Yaml);
        File.Move(temp, output, overwrite: true);
        Console.WriteLine($"{result.Parameters / 1e6:N0}M parameters, {result.Examples:N0} examples, mean {result.MeanTokens:F0} tokens (p95 {result.P95Tokens})");
        foreach (var why in result.Reasons) Console.WriteLine("  " + why);
        Console.WriteLine(Path.GetFullPath(output));
        return 0;
    }
}
