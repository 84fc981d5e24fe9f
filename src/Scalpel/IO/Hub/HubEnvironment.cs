namespace Scalpel.IO.Hub;

/// <summary>
/// Hub settings read from environment variables the way huggingface_hub reads them, so Scalpel shares the cache and
/// the login with the Python tools. The lookup is injectable so tests never depend on the process environment.
/// </summary>
public sealed class HubEnvironment(Func<string, string?> lookup)
{
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>The real process environment.</summary>
    public static HubEnvironment Process { get; } = new(Environment.GetEnvironmentVariable);

    private string? Get(string name) => lookup(name) is { Length: > 0 } value ? value : null;

    /// <summary>HF_ENDPOINT, else https://huggingface.co (no trailing slash).</summary>
    public string Endpoint => (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/');

    /// <summary>HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.</summary>
    public string Home => ExpandUser(Get("HF_HOME") ?? Path.Combine(Get("XDG_CACHE_HOME") ?? Path.Combine(UserHome, ".cache"), "huggingface"));

    /// <summary>HF_HUB_CACHE (or the older HUGGINGFACE_HUB_CACHE), else HF_HOME/hub.</summary>
    public string HubCache => ExpandUser(Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(Home, "hub"));

    /// <summary>HF_TOKEN_PATH, else HF_HOME/token (where <c>huggingface-cli login</c> writes it).</summary>
    public string TokenPath => ExpandUser(Get("HF_TOKEN_PATH") ?? Path.Combine(Home, "token"));

    /// <summary>HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else the token file's content; null when there is none.</summary>
    public string? Token
    {
        get
        {
            string? token = Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN");
            if (token is null)
            {
                try { token = File.Exists(TokenPath) ? File.ReadAllText(TokenPath) : null; }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { token = null; }
            }
            token = token?.Trim();
            return string.IsNullOrEmpty(token) ? null : token;
        }
    }

    /// <summary>HF_HUB_OFFLINE set to 1, ON, YES or TRUE.</summary>
    public bool Offline => Get("HF_HUB_OFFLINE")?.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    private string UserHome => Get("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    private string ExpandUser(string path) =>
        path == "~" ? UserHome
        : path.StartsWith("~/", StringComparison.Ordinal) || path.StartsWith("~\\", StringComparison.Ordinal) ? Path.Combine(UserHome, path[2..])
        : path;
}
