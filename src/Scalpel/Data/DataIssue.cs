namespace Scalpel.Data;

/// <summary>
/// One problem found in a dataset: where (file, 1-based line, field path such as
/// <c>messages[2].tool_calls[0].function.arguments</c>; "" for the whole record, line 0 for the whole file),
/// a stable <see cref="Code"/> from <see cref="IssueCodes"/>, and a one-line message that says how to fix it.
/// </summary>
public sealed record DataIssue(string File, long Line, string Field, string Code, string Message)
{
    public override string ToString() =>
        $"{File}{(Line > 0 ? $":{Line}" : "")}{(Field.Length > 0 ? $" {Field}" : "")}: {Code}: {Message}";
}

/// <summary>The stable codes of <see cref="DataIssue"/>. Errors first, then warnings.</summary>
public static class IssueCodes
{
    // ---- errors: the file or record cannot be read ----
    public const string FileNotFound = "file_not_found";
    public const string EmptyFile = "empty_file";
    public const string BinaryFile = "binary_file";
    public const string InvalidUtf8 = "invalid_utf8";
    public const string LoneSurrogate = "lone_surrogate";
    public const string InvalidJson = "invalid_json";
    public const string TooDeep = "too_deep";
    public const string RecordTooLarge = "record_too_large";
    public const string InvalidCsv = "invalid_csv";
    public const string InvalidGzip = "invalid_gzip";
    public const string UnknownFormat = "unknown_format";
    public const string MixedFormats = "mixed_formats";

    // ---- errors: the record is readable but wrong ----
    public const string MissingField = "missing_field";
    public const string WrongType = "wrong_type";
    public const string InvalidValue = "invalid_value";
    public const string UnknownRole = "unknown_role";
    public const string MisplacedRole = "misplaced_role";
    public const string MisplacedField = "misplaced_field";
    public const string EmptyContent = "empty_content";
    public const string EmptyMessages = "empty_messages";
    public const string UnsupportedContent = "unsupported_content";
    public const string InvalidWeight = "invalid_weight";
    public const string NoTrainableAssistant = "no_trainable_assistant";
    public const string InvalidToolDefinition = "invalid_tool_definition";
    public const string ToolCallInvalidJson = "tool_call_invalid_json";
    public const string ToolCallUnknownTool = "tool_call_unknown_tool";
    public const string ToolCallIdMismatch = "tool_call_id_mismatch";
    public const string ParallelToolCallsDisabled = "parallel_tool_calls_disabled";
    /// <summary>The chat template (or tokenizer) failed on the example: it raised, or its assistant spans could not be derived.</summary>
    public const string TemplateError = "template_error";

    // ---- warnings: trainable, but probably not what was meant ----
    public const string UnknownField = "unknown_field";
    public const string ToolsMissing = "tools_missing";
    public const string IdenticalPreference = "identical_preference";
    public const string Duplicate = "duplicate";
    public const string NearDuplicate = "near_duplicate";
    public const string Leakage = "leakage";
    public const string NearLeakage = "near_leakage";
    public const string LabelImbalance = "label_imbalance";
    public const string ShortAnswer = "short_answer";
    public const string TemplatedAnswer = "templated_answer";
    public const string OverMaxLength = "over_max_length";
    public const string NoTrainableTokens = "no_trainable_tokens";
}

/// <summary>Issues kept up to a cap (and up to a cap per code, so one kind cannot crowd out the rest), with the true totals.</summary>
public sealed class IssueLog(int cap, int? perCodeCap = null)
{
    private readonly List<DataIssue> _items = [];
    private readonly Dictionary<string, int> _keptByCode = new(StringComparer.Ordinal);

    public int Cap { get; } = cap;
    public int PerCodeCap { get; } = perCodeCap ?? cap;
    public IReadOnlyList<DataIssue> Items => _items;
    /// <summary>How many were reported, including those past the cap.</summary>
    public long Count { get; private set; }
    /// <summary>Count per code, including those past the cap.</summary>
    public Dictionary<string, long> CountByCode { get; } = new(StringComparer.Ordinal);

    public void Add(DataIssue issue)
    {
        Count++;
        CountByCode[issue.Code] = CountByCode.GetValueOrDefault(issue.Code) + 1;
        int kept = _keptByCode.GetValueOrDefault(issue.Code);
        if (_items.Count < Cap && kept < PerCodeCap)
        {
            _items.Add(issue);
            _keptByCode[issue.Code] = kept + 1;
        }
    }
}
