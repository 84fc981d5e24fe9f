using Scalpel.Models;
using Scalpel.Tensors;

namespace Scalpel.Tests.Models;

/// <summary>Tiny model specs and checkpoints for tests.</summary>
public static class TinyCheckpoint
{
    public static ModelSpec Llama(int vocab = 101, int hidden = 64, int layers = 2, int heads = 4, int kvHeads = 2, int headDim = 16,
        int intermediate = 96) => new()
    {
        Architecture = "LlamaForCausalLM", ModelType = "llama",
        HiddenSize = hidden, IntermediateSize = intermediate, NumLayers = layers, NumHeads = heads, NumKvHeads = kvHeads,
        HeadDim = headDim, VocabSize = vocab, MaxPositions = 256, RmsNormEps = 1e-5, RopeTheta = 10000,
        BosTokenId = 1, EosTokenIds = [2],
    };

    public static Dictionary<string, float[]> Write(ModelSpec spec, string directory, int seed, DType storeAs = DType.F32, int shards = 1) =>
        RandomCheckpoint.Write(spec, directory, seed, storeAs, shards);

    /// <summary>A temp folder deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "scalpel-test-" + Guid.NewGuid().ToString("N"));
        public TempDir() => Directory.CreateDirectory(Path);
        public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
    }
}
