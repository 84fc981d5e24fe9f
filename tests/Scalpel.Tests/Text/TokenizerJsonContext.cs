using System.Text.Json.Serialization;

namespace Scalpel.Tests.Text;

[JsonSerializable(typeof(string))]
internal partial class TokenizerJsonContext : JsonSerializerContext;
