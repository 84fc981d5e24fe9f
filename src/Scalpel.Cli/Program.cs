namespace Scalpel.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.WriteLine("scalpel: commands arrive with the engine");
        return 0;
    }
}
