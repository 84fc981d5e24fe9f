using Scalpel.Data;
using Xunit;

namespace Scalpel.Tests.Data;

/// <summary>The parallel reader gives exactly what reading one record at a time gives, and stops cleanly.</summary>
public class ReaderTests : IDisposable
{
    private readonly DataFiles _files = new();
    public void Dispose() => _files.Dispose();

    private static string Describe(ParsedRecord r) =>
        $"{r.Line}|{r.IsRecord}|{r.Format}|{r.Example?.GetType().Name}|{string.Join(";", r.Errors.Select(e => e.Code + "@" + e.Field))}|{string.Join(";", r.Warnings.Select(e => e.Code))}";

    [Fact]
    public void ParallelAndSequentialReadsAgree()
    {
        var rng = new Random(1);
        var lines = new List<string>();
        for (int i = 0; i < 5000; i++)
        {
            lines.Add((i % 97) switch
            {
                3 => "{broken",
                5 => """{"text": "a plain record in a chat file"}""",
                7 => """{"messages": [{"role": "robot", "content": "x"}]}""",
                11 => "",
                13 => """{"messages": [{"role": "user", "content": "q", "mood": 1}, {"role": "assistant", "content": "a"}]}""",
                _ => DataFiles.Chat($"question {i} " + string.Join(' ', QualityTests.Words(rng, 8)), string.Join(' ', QualityTests.Words(rng, 20))),
            });
        }
        var path = _files.WriteLines("mixed.jsonl", [.. lines]);
        var sequential = DataFiles.ReadAll(path, new DatasetReadOptions { Parallelism = 1 }).Select(Describe).ToList();
        foreach (int workers in new[] { 2, 3, 8 })
            Assert.Equal(sequential, DataFiles.ReadAll(path, new DatasetReadOptions { Parallelism = workers }).Select(Describe).ToList());
        Assert.Contains(sequential, d => d.Contains("mixed_formats"));

        var a = DataChecker.Check(path, new DataCheckOptions { Read = new DatasetReadOptions { Parallelism = 1 } });
        var b = DataChecker.Check(path, new DataCheckOptions { Read = new DatasetReadOptions { Parallelism = 4 } });
        Assert.Equal(a.Errors.Items, b.Errors.Items);
        Assert.Equal(a.Warnings.Items, b.Warnings.Items);
        Assert.Equal(a.Stats.ExampleChars.Mean, b.Stats.ExampleChars.Mean);
    }

    [Fact]
    public void StoppingEarlyDoesNotHang()
    {
        var lines = Enumerable.Range(0, 20_000).Select(i => DataFiles.Chat($"q{i}", $"a{i}")).ToArray();
        var path = _files.WriteLines("many.jsonl", lines);
        for (int i = 0; i < 3; i++)
        {
            using var reader = DatasetReader.Open(path, new DatasetReadOptions { Parallelism = 4 });
            Assert.Equal(10, reader.Read().Take(10).Count());
        }
        var first = DataFiles.Examples(path).Take(1).Single();
        Assert.Equal(1, first.Source.Line);
    }

    [Fact]
    public void FormatIsSettledInFileOrderEvenWhenParsedInParallel()
    {
        // The first record that has a format decides; later ones that differ are mixed_formats, whichever thread parsed them.
        var lines = new[] { "{}", """{"text": "first"}""" }.Concat(Enumerable.Range(0, 3000).Select(i => i % 500 == 499 ? DataFiles.Chat("q", "a") : $$"""{"text": "doc {{i}}"}""")).ToArray();
        var report = DataChecker.Check(_files.WriteLines("t.jsonl", lines), new DataCheckOptions { Read = new DatasetReadOptions { Parallelism = 4 } });
        Assert.Equal(DataFormat.Text, report.Format);
        Assert.Equal(1, report.Errors.CountByCode[IssueCodes.UnknownFormat]);
        Assert.Equal(6, report.Errors.CountByCode[IssueCodes.MixedFormats]);
    }

    [Fact]
    public void TemplatedAnswersAreFoundInLargeFilesWithConstantMemory()
    {
        var rng = new Random(4);
        var lines = new List<string>();
        for (int i = 0; i < 6000; i++)
        {
            string answer = i % 20 == 7 ? "Please contact our support team for help with this."
                          : string.Join(' ', QualityTests.Words(rng, 25));
            lines.Add(DataFiles.Chat($"ticket {i}: " + string.Join(' ', QualityTests.Words(rng, 6)), answer));
        }
        var report = DataChecker.Check(_files.WriteLines("support.jsonl", [.. lines]));
        var w = Assert.Single(report.Warnings.Items, x => x.Code == IssueCodes.TemplatedAnswer);
        Assert.Equal(8, w.Line);
        Assert.Contains("at least", w.Message);   // more distinct answers than counters: the count is a lower bound
        Assert.Contains("Please contact our support", w.Message);
    }

    [Fact]
    public void ReadExamplesStopsAtTheFirstErrorWithItsLocation()
    {
        var ok = _files.WriteLines("ok.jsonl", DataFiles.Chat("q", "a"), DataFiles.Chat("q2", "a2"));
        Assert.Equal(2, DatasetReader.ReadExamples(ok).Count());
        var bad = _files.WriteLines("bad.jsonl", DataFiles.Chat("q", "a"), """{"messages": [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}]}""");
        var e = Assert.Throws<DatasetException>(() => DatasetReader.ReadExamples(bad).ToList());
        Assert.Equal((2L, "messages[1].role", IssueCodes.UnknownRole), (e.Issue.Line, e.Issue.Field, e.Issue.Code));
        Assert.Contains("bad.jsonl:2 messages[1].role: unknown_role", e.Message);
    }
}
