namespace Scalpel.Bench;

/// <summary>Benchmarks that print their own numbers beside a peer's, measured in the same run. See bench/README.md.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string[] rest = args.Skip(1).ToArray();
        switch (args.FirstOrDefault())
        {
            case "gemm-cpu":
                return GemmBench.Run(rest);
            case "gemv-cpu":
                return GemvBench.Run(rest);
            case "lora-cpu":
                return LoraBench.Run(rest);
            case "data-check":
                return DataBench.Run(rest);
            case "tokenize-cpu":
                return TokenizerBench.Run(rest);
            case "generate-cpu":
                return GenerateBench.Run(rest);
            case "serve-load":
                return ServeLoadBench.Run(rest);
            case "quant-cpu":
                return QuantBench.Run(rest);
            case "memory-cpu":
                return MemoryBench.Run(rest);
            default:
                Console.Error.WriteLine("usage: Scalpel.Bench <gemm-cpu|gemv-cpu|lora-cpu|tokenize-cpu|data-check|generate-cpu|serve-load|quant-cpu|memory-cpu> [options]");
                return 2;
        }
    }
}
