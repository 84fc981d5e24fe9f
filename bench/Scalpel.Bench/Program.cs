namespace Scalpel.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("usage: Scalpel.Bench <gemm-cpu|lora-cpu> [options]");
        return 2;
    }
}
