using System.Text.Json.Nodes;
using Scalpel.Evaluation;
using Scalpel.Tests.Models;
using Xunit;

namespace Scalpel.Tests.Evaluation;

public sealed class SuiteAndSetupTests : IDisposable
{
    private readonly TinyCheckpoint.TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir.Path, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string Chat(string user, string answer) =>
        new JsonObject { ["messages"] = new JsonArray(
            new JsonObject { ["role"] = "user", ["content"] = user },
            new JsonObject { ["role"] = "assistant", ["content"] = answer }) }.ToJsonString();

    [Fact]
    public void Bm25MatchesAHandComputedScore()
    {
        var index = new Bm25Index(["the cat sat", "the dog barked loudly", "cat cat food"]);
        // "cat" is in 2 of 3 documents: idf = ln(1 + (3 − 2 + 0.5)/(2 + 0.5)) = ln 1.6; average length 10/3.
        double idf = Math.Log(1.6), avg = 10.0 / 3;
        double doc2 = idf * 2 * 2.5 / (2 + 1.5 * (0.25 + 0.75 * 3 / avg));
        Assert.Equal(doc2, index.Score("cat", 2), 12);
        Assert.Equal([2, 0], index.Top("Cat!", 2));
        Assert.Equal(0, index.Score("bird", 0));
    }

    [Fact]
    public void SuitesReadAllTheirFields()
    {
        Write("test.jsonl", Chat("2+2?", "4") + "\n" + Chat("3+3?", "6") + "\n");
        string suite = Write("suite.yaml", """
            name: math
            tasks:
              - name: sums
                data: test.jsonl
                limit: 1
                system_prompt: Answer with a number.
                few_shot: 2
                generation: {max_tokens: 5, temperature: 0.5, top_p: 0.9, stop: ["\n"], choices: ["4", "6"]}
                metrics: [exact_match, {accuracy: {labels: ["4", "6"]}}]
            """);
        var s = EvalSuite.Load(suite);
        var task = Assert.Single(s.Tasks);
        Assert.Equal("math", s.Name);
        Assert.Equal(1, task.Limit);
        Assert.Equal(2, task.FewShot);
        Assert.Equal(5, task.Generation.MaxTokens);
        Assert.Equal(0.9f, task.Generation.Sampling.TopP);
        Assert.Equal(["\n"], task.Generation.Stop);
        Assert.Equal(["4", "6"], task.Generation.Choices!);
        Assert.Equal("accuracy", task.Metrics[1].Name);
        Assert.Single(EvalExample.Read(task.DataPath, task.Limit));
    }

    [Theory]
    [InlineData("tasks:\n  - name: a\n    data: test.jsonl\n    metrics: [bleu]\n", "unknown metric 'bleu'")]
    [InlineData("tasks:\n  - name: a\n    data: nope.jsonl\n    metrics: [exact_match]\n", "nope.jsonl: no such file")]
    [InlineData("tasks:\n  - name: a\n    data: test.jsonl\n    metrics: [exact_match]\n    few_shots: 3\n", "tasks[0].few_shots: unknown field")]
    [InlineData("tasks:\n  - name: a\n    data: test.jsonl\n    metrics: [exact_match]\n    generation: {max_tokens: -1}\n", "max_tokens")]
    [InlineData("tasks: []\n", "at least one task")]
    [InlineData("tasks:\n  - name: a\n    data: test.jsonl\n", "list at least one metric")]
    public void BadSuitesNameTheLineAndField(string yaml, string expected)
    {
        Write("test.jsonl", Chat("q", "a") + "\n");
        string suite = Write("bad.yaml", yaml);
        var error = Assert.Throws<EvalSuiteException>(() => EvalSuite.Load(suite));
        Assert.Contains(expected, error.Message);
        Assert.StartsWith(suite, error.Message);
    }

    [Fact]
    public void ExamplesWithoutAReferenceAnswerAreRefused()
    {
        string data = Write("no-answer.jsonl", """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}, {"role": "user", "content": "and?"}]}""" + "\n");
        var error = Assert.Throws<EvalSuiteException>(() => EvalExample.Read(data));
        Assert.Contains("no-answer.jsonl:1", error.Message);
        Assert.Contains("reference answer", error.Message);
    }

    [Fact]
    public void SetupsBuildTheRightConversations()
    {
        string train = Write("train.jsonl", string.Join("\n", Chat("apples are red", "fruit"), Chat("cars are fast", "vehicle"),
            Chat("bananas are yellow", "fruit"), Chat("trucks are big", "vehicle")) + "\n");
        string test = Write("t.jsonl", Chat("red apples", "fruit") + "\n");
        var setups = new PromptSetups(EvalExample.Read(train));
        var example = EvalExample.Read(test)[0];
        var task = new EvalTask { Name = "t", DataPath = test, SystemPrompt = "Classify.", FewShot = 2, Metrics = [] };

        var zero = setups.Messages(PromptKind.ZeroShot, example, task);
        Assert.Single(zero);
        var system = setups.Messages(PromptKind.SystemPrompt, example, task);
        Assert.Equal("Classify.", (string)system[0]!["content"]!);
        Assert.Equal(2, system.Count);

        var retrieved = setups.Messages(PromptKind.FewShotRetrieved, example, task);
        // system, 2 × (user, assistant), the question: the most similar demonstration sits right before it.
        Assert.Equal(6, retrieved.Count);
        Assert.Equal("apples are red", (string)retrieved[3]!["content"]!);
        Assert.Equal("fruit", (string)retrieved[4]!["content"]!);
        Assert.Equal("red apples", (string)retrieved[5]!["content"]!);

        var random1 = setups.Messages(PromptKind.FewShotRandom, example, task);
        var random2 = setups.Messages(PromptKind.FewShotRandom, example, task);
        Assert.Equal(random1.ToJsonString(), random2.ToJsonString());        // seeded
        Assert.Equal(6, random1.Count);
        Assert.Equal("no training examples (--train)", new PromptSetups(null).Unavailable(PromptKind.FewShotRandom, task));
    }

    [Theory]
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>", "get_weather", "{\"city\":\"Oslo\"}")]
    [InlineData("[TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}]", "add", "{\"a\":1,\"b\":2}")]
    [InlineData("{\"name\": \"search\", \"parameters\": {\"q\": \"x\"}}", "search", "{\"q\":\"x\"}")]
    public void ToolCallsAreFoundInTheShapesTemplatesTeach(string text, string name, string arguments)
    {
        var call = Assert.Single(ToolCallParser.Parse(text)!)!;
        Assert.Equal(name, (string)call["function"]!["name"]!);
        Assert.Equal(arguments, (string)call["function"]!["arguments"]!);
        Assert.Null(ToolCallParser.Parse("The weather in Oslo is fine."));
    }
}
