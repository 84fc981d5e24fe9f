using System.Text;
using System.Text.RegularExpressions;
using Scalpel.Models;
using Scalpel.Text;

namespace Scalpel.IO.Gguf;

/// <summary>A Hugging Face chat template rewritten as the Go template Ollama renders, with the turn-ending tokens.</summary>
/// <param name="Family">chatml, llama3, mistral, gemma, phi3 or phi4-mini</param>
/// <param name="Notes">What of the Jinja template the Go template does not reproduce (printed as warnings).</param>
public sealed record OllamaTemplate(string Family, string Template, IReadOnlyList<string> EndOfTurn, IReadOnlyList<string> Notes);

/// <summary>What <see cref="OllamaModelfile.Write"/> wrote, and what the user should be told about it.</summary>
public sealed record ModelfileResult(string Path, string Text, OllamaTemplate? Template, IReadOnlyList<string> Warnings);

/// <summary>
/// An Ollama <c>Modelfile</c> next to an exported GGUF: <c>FROM ./file.gguf</c>, optionally <c>ADAPTER ./lora.gguf</c>,
/// the chat template as a Go <c>TEMPLATE</c>, and a <c>PARAMETER stop</c> per end-of-turn or end-of-sequence token.
/// </summary>
/// <remarks>
/// Ollama renders prompts with Go's text/template, not Jinja, so the template is not copied but recognised: the
/// family is told by the special tokens the Jinja source contains, and each family has a hand-written Go template
/// (the layout of Ollama's own library templates): ChatML (<c>&lt;|im_start|&gt;</c>, Qwen, SmolLM; a default system
/// prompt written literally in the Jinja is kept), Llama 3 (<c>&lt;|start_header_id|&gt;</c>), Mistral
/// (<c>[INST]</c>, the system prompt in the last user turn as Mistral's own templates put it), Gemma
/// (<c>&lt;start_of_turn&gt;</c>, the system prompt opening the first turn as Gemma 3 does) and Phi-3 / Phi-4-mini
/// (<c>&lt;|assistant|&gt;</c> … <c>&lt;|end|&gt;</c>, with or without a newline after each role tag). The templates use only <c>.System</c> and <c>.Messages</c>
/// (<c>.Role</c>, <c>.Content</c>) and skip system-role messages, which works whether Ollama leaves system messages
/// in <c>.Messages</c> (newer versions) or not. BOS is not in the template: llama.cpp adds it when tokenizing,
/// as the GGUF's add_bos_token says. Tool calls and reasoning switches are not translated. A template of another
/// family gets no TEMPLATE line and a warning: Ollama then falls back to passing the prompt through.
/// </remarks>
public static class OllamaModelfile
{
    public const string FileName = "Modelfile";

    /// <summary>Recognises the family of a Jinja chat template; null when it is none this translator knows.</summary>
    /// <param name="eosToken">the tokenizer's EOS text (Mistral ends assistant turns with it)</param>
    public static OllamaTemplate? Translate(string jinja, string? eosToken)
    {
        ArgumentNullException.ThrowIfNull(jinja);
        if (jinja.Contains("<|start_header_id|>", StringComparison.Ordinal))
        {
            var notes = new List<string>();
            if (jinja.Contains("Cutting Knowledge Date", StringComparison.Ordinal))
                notes.Add("the template's \"Cutting Knowledge Date / Today Date\" system preamble (Llama 3.1+) is not reproduced");
            return new("llama3", Llama3Template, ["<|eot_id|>", "<|eom_id|>"], notes);
        }
        if (jinja.Contains("<start_of_turn>", StringComparison.Ordinal))
            return new("gemma", GemmaTemplate, ["<end_of_turn>"], []);
        if (jinja.Contains("<|im_start|>", StringComparison.Ordinal) && !jinja.Contains("<|im_sep|>", StringComparison.Ordinal))
        {
            string template = DefaultSystemPrompt(jinja) is { } fallback
                ? ChatMlTemplate.Replace("{{ end }}\n{{- range", $"{{{{ else }}}}<|im_start|>system\n{fallback}<|im_end|>\n{{{{ end }}}}\n{{{{- range", StringComparison.Ordinal)
                : ChatMlTemplate;
            return new("chatml", template, ["<|im_end|>"], []);
        }
        if (jinja.Contains("[INST]", StringComparison.Ordinal) && !jinja.Contains("[SYSTEM_PROMPT]", StringComparison.Ordinal))
        {
            // Mistral v0.1/v0.2 write "[INST] text [/INST]"; v3 and Tekken write "[INST]text[/INST]".
            string space = jinja.Contains("[INST] ", StringComparison.Ordinal) ? " " : "";
            string template = MistralTemplate.Replace("{SPACE}", space, StringComparison.Ordinal).Replace("{EOS}", eosToken ?? "", StringComparison.Ordinal);
            return new("mistral", template, [], eosToken is null ? ["no eos_token: assistant turns are not closed"] : []);
        }
        if (jinja.Contains("<|end|>", StringComparison.Ordinal) && jinja.Contains("<|assistant|>", StringComparison.Ordinal)
            && !Regex.IsMatch(jinja, @"<\|system\|>\w"))   // a fixed system preamble (Phi-4-mini-reasoning) is not this layout
        {
            // Phi-3 puts a newline after each role tag; Phi-4-mini does not.
            bool newline = Regex.IsMatch(jinja, @"\|>(\n|\\n|' \+ '\\n'|' \+ '\n')");
            return newline ? new("phi3", Phi3Template, ["<|end|>"], []) : new("phi4-mini", Phi3Template.Replace("|>\n", "|>", StringComparison.Ordinal), ["<|end|>"], []);
        }
        return null;
    }

    /// <summary>Qwen 2.5 and SmolLM2 open with a fixed system turn when the conversation has none.</summary>
    private static string? DefaultSystemPrompt(string jinja)
    {
        var m = Regex.Match(jinja, @"(['""])<\|im_start\|>system\\n([^'""\\{}]+)<\|im_end\|>\\n\1");
        return m.Success ? m.Groups[2].Value : null;
    }

    /// <summary>Writes <c>Modelfile</c> in the GGUF's folder (replacing one there), FROM and ADAPTER relative to it.</summary>
    /// <param name="modelDirectory">the Hugging Face folder the GGUF came from (chat template, tokenizer, config)</param>
    /// <param name="ggufPath">the model GGUF for FROM</param>
    /// <param name="adapterGgufPath">a GGUF LoRA adapter for ADAPTER; the Modelfile then goes next to it</param>
    public static ModelfileResult Write(string modelDirectory, string ggufPath, string? adapterGgufPath = null)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(adapterGgufPath ?? ggufPath))!;
        var warnings = new List<string>();
        var tokenizer = Tokenizer.FromDirectory(modelDirectory);
        var (source, sourceName) = ChatTemplate.SourceFromDirectory(modelDirectory, tokenizer.Config);
        OllamaTemplate? template = null;
        if (source is null)
            warnings.Add($"{modelDirectory} has no chat template; the Modelfile has no TEMPLATE");
        else
        {
            template = Translate(source, tokenizer.Config.EosToken);
            if (template is null)
                warnings.Add($"{sourceName}: not a chat template family Scalpel can translate to Ollama's Go templates " +
                              "(ChatML, Llama 3, Mistral [INST], Gemma, Phi-3); the Modelfile has no TEMPLATE, so write one by hand");
            else
                warnings.AddRange(template.Notes.Select(n => $"{sourceName}: {n}"));
        }

        var text = new StringBuilder();
        text.Append("# Written by scalpel export. Create the Ollama model with: ollama create NAME -f Modelfile\n");
        text.Append("FROM ").Append(RelativePath(folder, ggufPath)).Append('\n');
        if (adapterGgufPath is not null) text.Append("ADAPTER ").Append(RelativePath(folder, adapterGgufPath)).Append('\n');
        if (template is not null)
        {
            if (template.Template.Contains("\"\"\"", StringComparison.Ordinal))
                throw new InvalidOperationException("a Go template with \"\"\" cannot be written in a Modelfile");
            text.Append("TEMPLATE \"\"\"").Append(template.Template).Append("\"\"\"\n");
        }
        foreach (string stop in StopTokens(modelDirectory, tokenizer, template))
            text.Append("PARAMETER stop ").Append(Quote(stop)).Append('\n');

        string path = Path.Combine(folder, FileName);
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllText(temp, text.ToString(), new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
        return new ModelfileResult(path, text.ToString(), template, warnings);
    }

    /// <summary>The family's end-of-turn tokens that the vocabulary has, then every EOS token (tokenizer and config.json).</summary>
    private static List<string> StopTokens(string modelDirectory, Tokenizer tokenizer, OllamaTemplate? template)
    {
        var stops = new List<string>();
        void Add(string? token)
        {
            if (token is not null && !stops.Contains(token) && tokenizer.TokenToId(token) is not null) stops.Add(token);
        }
        foreach (string t in template?.EndOfTurn ?? []) Add(t);
        Add(tokenizer.Config.EosToken);
        if (File.Exists(Path.Combine(modelDirectory, "config.json")))
            foreach (int id in ModelSpec.FromConfigFile(modelDirectory).EosTokenIds) Add(tokenizer.IdToToken(id));
        return stops;
    }

    private static string RelativePath(string folder, string file)
    {
        string relative = Path.GetRelativePath(folder, Path.GetFullPath(file)).Replace('\\', '/');
        return relative.StartsWith("../", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? relative : "./" + relative;
    }

    /// <summary>A Modelfile string: double quotes, with backslash and quote escaped.</summary>
    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    // ── the Go templates, one per family ──
    // "{{-" trims the whitespace (newlines included) before it, "-}}" after it; text between actions is literal.

    private const string ChatMlTemplate =
        "{{- if .System }}<|im_start|>system\n" +
        "{{ .System }}<|im_end|>\n" +
        "{{ end }}\n" +
        "{{- range .Messages }}\n" +
        "{{- if ne .Role \"system\" }}<|im_start|>{{ .Role }}\n" +
        "{{ .Content }}<|im_end|>\n" +
        "{{ end }}\n" +
        "{{- end }}<|im_start|>assistant\n";

    private const string Llama3Template =
        "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n" +
        "{{ .System }}<|eot_id|>\n" +
        "{{- end }}\n" +
        "{{- range .Messages }}\n" +
        "{{- if ne .Role \"system\" }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n" +
        "{{ .Content }}<|eot_id|>\n" +
        "{{- end }}\n" +
        "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n";

    private const string MistralTemplate =
        "{{- range $i, $_ := .Messages }}\n" +
        "{{- if eq .Role \"user\" }}[INST]{SPACE}{{ if and $.System (eq (len (slice $.Messages $i)) 1) }}{{ $.System }}\n\n" +
        "{{ end }}{{ .Content }}{SPACE}[/INST]\n" +
        "{{- else if eq .Role \"assistant\" }}{{ .Content }}{EOS}\n" +
        "{{- end }}\n" +
        "{{- end }}";

    private const string GemmaTemplate =
        "{{- $first := true }}\n" +
        "{{- range .Messages }}\n" +
        "{{- if ne .Role \"system\" }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}{{ .Role }}{{ end }}\n" +
        "{{ if and $first $.System }}{{ $.System }}\n\n" +
        "{{ end }}{{ .Content }}<end_of_turn>\n" +
        "{{ $first = false }}\n" +
        "{{- end }}\n" +
        "{{- end }}<start_of_turn>model\n";

    private const string Phi3Template =
        "{{- if .System }}<|system|>\n" +
        "{{ .System }}<|end|>\n" +
        "{{ end }}\n" +
        "{{- range .Messages }}\n" +
        "{{- if ne .Role \"system\" }}<|{{ .Role }}|>\n" +
        "{{ .Content }}<|end|>\n" +
        "{{ end }}\n" +
        "{{- end }}<|assistant|>\n";
}
