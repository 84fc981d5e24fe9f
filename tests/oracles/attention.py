"""Causal GQA attention over packed sequences, written like Hugging Face's eager attention, with autograd.

Per case i: q{i} [T, Hq, D], k{i}/v{i} [T, Hkv, D], dout{i} [T, Hq, D], seg{i} [T] (first token of each token's
sequence); args.cases[i] = {scale, window}. Outputs: out{i} [T, Hq, D], lse{i} [Hq, T], dq{i}, dk{i}, dv{i}.
Everything runs in float64 (oracle_io), so HF's "softmax in fp32" upcast is implied.
"""
import torch
from oracle_io import load, save


def repeat_kv(x, n_rep):
    # transformers.models.llama.modeling_llama.repeat_kv: [B, Hkv, T, D] -> [B, Hkv * n_rep, T, D]
    b, h, t, d = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, h, n_rep, t, d).reshape(b, h * n_rep, t, d)


def block_causal_mask(seg, window, dtype):
    # additive [1, 1, T, T] mask: 0 where token t may see s (same sequence, s <= t, inside the window), min elsewhere
    t = seg.shape[0]
    rows = torch.arange(t)[:, None]
    cols = torch.arange(t)[None, :]
    allowed = (cols <= rows) & (cols >= seg[:, None])
    if window > 0:
        allowed &= (rows - cols) < window
    mask = torch.zeros(t, t, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None]


def eager_attention(q, k, v, mask, scale):
    # q [B, Hq, T, D], k/v [B, Hkv, T, D] as in LlamaAttention's eager_attention_forward
    n_rep = q.shape[1] // k.shape[1]
    k = repeat_kv(k, n_rep)
    v = repeat_kv(v, n_rep)
    scores = torch.matmul(q, k.transpose(2, 3)) * scale + mask
    probs = torch.nn.functional.softmax(scores, dim=-1)
    return torch.matmul(probs, v), torch.logsumexp(scores, dim=-1)


tensors, args = load()
outputs = {}
for i, case in enumerate(args["cases"]):
    q = tensors[f"q{i}"].clone().requires_grad_(True)
    k = tensors[f"k{i}"].clone().requires_grad_(True)
    v = tensors[f"v{i}"].clone().requires_grad_(True)
    mask = block_causal_mask(tensors[f"seg{i}"], case["window"], q.dtype)
    # [T, H, D] -> [1, H, T, D]
    out, lse = eager_attention(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None], mask, case["scale"])
    out = out[0].transpose(0, 1)  # back to [T, Hq, D]
    out.backward(tensors[f"dout{i}"])
    outputs.update({f"out{i}": out, f"lse{i}": lse[0], f"dq{i}": q.grad, f"dk{i}": k.grad, f"dv{i}": v.grad})
save(outputs)
