using System.Runtime.CompilerServices;
namespace Scalpel.Data;

/// <summary>Thresholds of the quality warnings.</summary>
public sealed record QualityOptions
{
    /// <summary>Estimated Jaccard similarity (word 3-shingles) from which two examples are near-duplicates; outside (0, 1] turns the search off.</summary>
    public double NearDuplicateThreshold { get; init; } = 0.8;
    /// <summary>Answers form labels when there are at most this many distinct ones (and each is short).</summary>
    public int MaxLabels { get; init; } = 50;
    /// <summary>Longest answer (characters, normalised) that can be a label.</summary>
    public int MaxLabelChars { get; init; } = 40;
    /// <summary>Warn when the most frequent label is at least this many times the least frequent.</summary>
    public double LabelImbalanceRatio { get; init; } = 5;
    /// <summary>An answer of fewer words than this is short…</summary>
    public int ShortAnswerWords { get; init; } = 3;
    /// <summary>…worth a warning when the median answer has at least this many words (a long-form dataset).</summary>
    public int ShortAnswerMedianWords { get; init; } = 20;
    /// <summary>The same answer on at least this fraction of examples (and at least 3 times) is templated.</summary>
    public double TemplatedAnswerFraction { get; init; } = 0.01;

    public bool NearDuplicatesEnabled => NearDuplicateThreshold is > 0 and <= 1;
}

/// <summary>
/// Duplicates, near-duplicates, leakage against a validation file, label balance, short and templated answers.
/// Memory per example is a few dozen bytes (hashes) plus the near-duplicate index (~256 bytes), never the text.
/// </summary>
internal sealed class QualityAnalyzer
{
    private const int MaxShortLines = 1000, FrequentAnswers = 1000;
    private readonly QualityOptions _options;
    private readonly IssueLog _warnings;
    private readonly DatasetStats _stats;
    private readonly HashIntMap _exact = new();
    private readonly NearDuplicateIndex? _near;
    // The most frequent answers (Misra-Gries summary of FrequentAnswers counters): every answer on more than
    // 1/(FrequentAnswers+1) of the examples is in it, its count short by at most that many; constant memory.
    private readonly Dictionary<ulong, FrequentAnswer> _frequent = [];
    private bool _frequentApproximate;
    private Dictionary<string, long>? _labels = new(StringComparer.Ordinal);
    private readonly List<(string File, long Line)> _shortAnswers = [];
    private long _examples;
    // Leakage: the validation file's hashes.
    private string? _validationFile;
    private HashIntMap? _valExact, _valPrompt;
    private NearDuplicateIndex? _valNear;

    public QualityAnalyzer(QualityOptions options, IssueLog warnings, DatasetStats stats)
    {
        _options = options;
        _warnings = warnings;
        _stats = stats;
        if (options.NearDuplicatesEnabled)
        {
            _near = new NearDuplicateIndex(options.NearDuplicateThreshold);
            stats.NearDuplicateSearch = (options.NearDuplicateThreshold, _near.Bands, _near.Rows);
        }
    }

    /// <summary>Remembers an example of the validation file (call for all of them before <see cref="Add"/>).</summary>
    public void AddValidation(string file, long line, in ExampleFeatures f)
    {
        _validationFile = file;
        _valExact ??= new HashIntMap();
        _valPrompt ??= new HashIntMap();
        _valExact.GetOrAdd(f.Exact, (int)line, out _);
        if (f.Prompt != 0) _valPrompt.GetOrAdd(f.Prompt, (int)line, out _);
        if (_near is not null && f.HasSignature)
        {
            _valNear ??= new NearDuplicateIndex(_options.NearDuplicateThreshold);
            if (!_valNear.TryFind(f.Signature, out _, out _)) _valNear.Add(f.Signature, (int)line);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Add(string file, long line, in ExampleFeatures f)
    {
        _examples++;
        void Warn(string code, string message) => _warnings.Add(new DataIssue(file, line, "", code, message));

        // Leakage into the validation file.
        if (_valExact is not null)
        {
            if (_valExact.TryGetValue(f.Exact, out int vl))
            {
                _stats.LeakedExamples++;
                Warn(IssueCodes.Leakage, $"the same example is in the validation file ({_validationFile}:{vl}): remove it from one of them, or the validation score is inflated");
            }
            else if (f.Prompt != 0 && _valPrompt!.TryGetValue(f.Prompt, out vl))
            {
                _stats.LeakedExamples++;
                Warn(IssueCodes.Leakage, $"the same prompt is in the validation file ({_validationFile}:{vl}): remove it from one of them, or the validation score is inflated");
            }
            else if (_valNear is not null && f.HasSignature && _valNear.TryFind(f.Signature, out vl, out double vs))
            {
                _stats.NearLeakedExamples++;
                Warn(IssueCodes.NearLeakage, $"a near-duplicate (similarity ≈ {vs:F2}) is in the validation file ({_validationFile}:{vl}): remove it from one of them");
            }
        }

        // Exact and near duplicates.
        ref int first = ref _exact.GetOrAdd(f.Exact, (int)line, out bool seen);
        if (seen)
        {
            _stats.Duplicates++;
            Warn(IssueCodes.Duplicate, $"duplicate of line {first} (same text ignoring case and whitespace): drop one");
        }
        else if (_near is not null && f.HasSignature)
        {
            if (_near.TryFind(f.Signature, out int other, out double similarity))
            {
                _stats.NearDuplicates++;
                Warn(IssueCodes.NearDuplicate,
                    $"near-duplicate of line {other} (estimated similarity {similarity:F2} ≥ {_options.NearDuplicateThreshold:F2}): drop one, or make them differ");
            }
            else _near.Add(f.Signature, (int)line);
        }

        if (f.Answer is null) { _labels = null; return; }

        // Labels: a small set of short answers.
        if (_labels is not null)
        {
            string label = TextFingerprinter.Normalize(f.Answer);
            if (label.Length > _options.MaxLabelChars) _labels = null;
            else
            {
                _labels[label] = _labels.GetValueOrDefault(label) + 1;
                if (_labels.Count > _options.MaxLabels) _labels = null;
            }
        }

        // Templated answers: the same answer again and again.
        if (_frequent.TryGetValue(f.AnswerHash, out var known))
        {
            known.Count++;
            known.Preview ??= RecordContext.Preview(f.Answer);
        }
        else if (_frequent.Count < FrequentAnswers) _frequent[f.AnswerHash] = new FrequentAnswer { Count = 1, Line = line };
        else
        {
            _frequentApproximate = true;
            foreach (var (key, entry) in _frequent)
                if (--entry.Count == 0) _frequent.Remove(key);
        }

        if (f.AnswerWords < _options.ShortAnswerWords)
        {
            if (_shortAnswers.Count < MaxShortLines) _shortAnswers.Add((file, line));
        }
    }

    /// <summary>The warnings only the whole file can tell: label balance, templated and short answers.</summary>
    public void Finish(string file)
    {
        bool labels = _labels is not null && _labels.Count >= 2 && _examples >= 10 && _labels.Count <= Math.Max(2, _examples / 4);
        _stats.Labels = labels ? _labels : null;
        if (labels)
        {
            var ordered = _labels!.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
            var (top, topCount) = ordered[0];
            var (bottom, bottomCount) = ordered[^1];
            if (topCount >= _options.LabelImbalanceRatio * bottomCount)
            {
                string dist = string.Join(", ", ordered.Take(6).Select(kv => $"'{kv.Key}' {kv.Value} ({100.0 * kv.Value / _examples:F1}%)"))
                              + (ordered.Count > 6 ? ", …" : "");
                _warnings.Add(new DataIssue(file, 0, "", IssueCodes.LabelImbalance,
                    $"the answers form {ordered.Count} labels and they are unbalanced: {dist}; '{top}' is {(double)topCount / bottomCount:F1}× '{bottom}': " +
                    $"collect or oversample '{bottom}', or downsample '{top}'"));
            }
            return;   // label datasets repeat short answers by design
        }

        long templatedMin = Math.Max(3, (long)Math.Ceiling(_options.TemplatedAnswerFraction * _examples));
        foreach (var entry in _frequent.Values.Where(e => e.Count >= templatedMin).OrderByDescending(e => e.Count))
            _warnings.Add(new DataIssue(file, entry.Line, "", IssueCodes.TemplatedAnswer,
                $"the same answer appears {(_frequentApproximate ? "at least " : "")}{entry.Count} times ({100.0 * entry.Count / _examples:F1}% of examples, first here): " +
                $"'{entry.Preview}': a repeated answer teaches the model to say it everywhere: vary it or drop the copies"));

        if (_stats.AnswerWords.Percentile(0.5) >= _options.ShortAnswerMedianWords)
            foreach (var (f, line) in _shortAnswers)
                _warnings.Add(new DataIssue(f, line, "", IssueCodes.ShortAnswer,
                    $"the answer has fewer than {_options.ShortAnswerWords} words while the median answer has {_stats.AnswerWords.Percentile(0.5)}: check it is complete"));
    }

    private sealed class FrequentAnswer
    {
        public long Count;
        public long Line;
        public string? Preview;
    }
}
