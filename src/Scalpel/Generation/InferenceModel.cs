using Scalpel.Adapters;
using Scalpel.Models;
using Scalpel.Text;

namespace Scalpel.Generation;

/// <summary>
/// Everything generation needs from a model folder, loaded once: the weights (with a PEFT adapter applied unmerged when
/// given), the tokenizer, the chat template (null when the folder has none) and the generation defaults.
/// </summary>
public sealed class InferenceModel : IDisposable
{
    private InferenceModel(string directory, string? adapter, DecoderModel model, Tokenizer tokenizer, ChatTemplate? template,
        GenerationDefaults defaults)
    {
        Directory = directory;
        AdapterDirectory = adapter;
        Model = model;
        Tokenizer = tokenizer;
        Template = template;
        Defaults = defaults;
        Generator = new Generator(model, tokenizer, defaults.StopTokenIds);
    }

    public string Directory { get; }
    public string? AdapterDirectory { get; }
    public DecoderModel Model { get; }
    public Tokenizer Tokenizer { get; }
    public ChatTemplate? Template { get; }
    public GenerationDefaults Defaults { get; }
    public Generator Generator { get; }

    private Constraints.TokenVocabulary? _vocabulary;
    /// <summary>The token byte strings for constrained decoding, built on first use (a second or two on a 150k vocabulary).</summary>
    public Constraints.TokenVocabulary Vocabulary =>
        LazyInitializer.EnsureInitialized(ref _vocabulary, () => Constraints.TokenVocabulary.FromTokenizer(Tokenizer, Generator.StopTokens));

    public static InferenceModel Load(string modelDirectory, string? adapterDirectory = null)
    {
        if (!System.IO.Directory.Exists(modelDirectory)) throw new DirectoryNotFoundException($"{modelDirectory}: no such folder");
        var tokenizer = Tokenizer.FromDirectory(modelDirectory);
        ChatTemplate? template = null;
        try
        {
            template = ChatTemplate.FromDirectory(modelDirectory);
        }
        catch (TemplateException) when (!HasTemplateFile(modelDirectory))
        {
            // A base model without a chat template: prompts are plain text.
        }
        var defaults = GenerationDefaults.FromDirectory(modelDirectory, tokenizer, template);
        var model = DecoderModel.Load(modelDirectory);
        try
        {
            if (adapterDirectory is not null) PeftAdapter.Load(model, adapterDirectory);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return new InferenceModel(modelDirectory, adapterDirectory, model, tokenizer, template, defaults);
    }

    private static bool HasTemplateFile(string directory) =>
        File.Exists(Path.Combine(directory, "chat_template.jinja")) || File.Exists(Path.Combine(directory, "chat_template.json"));

    /// <summary>
    /// Prompt ids for a conversation (OpenAI messages, optional tools) with the generation prompt added; without a chat
    /// template the messages' contents are joined with blank lines as plain text.
    /// </summary>
    public int[] EncodeConversation(System.Text.Json.Nodes.JsonArray messages, System.Text.Json.Nodes.JsonArray? tools = null)
    {
        if (Template is null)
        {
            var text = string.Join("\n\n", messages.Select(m => m?["content"]?.ToString() ?? ""));
            return Tokenizer.Encode(text, addSpecialTokens: true);
        }
        string rendered = Template.RenderConversationText(messages, tools, addGenerationPrompt: true);
        // The template writes BOS itself when the model wants one; encoding must not add a second.
        return Tokenizer.Encode(rendered, addSpecialTokens: false);
    }

    public void Dispose() => Model.Dispose();
}
