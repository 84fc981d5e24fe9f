"""RoPE oracle in float64: inv_freq from transformers' rope init functions (default, linear, llama3), cos/sin from
emb = cat(freqs, freqs) as in LlamaRotaryEmbedding, applied with HF's rotate_half / apply_rotary_pos_emb; the gradient
of the rotation comes from autograd.

Cases: args["cases"][i] = {tokens, heads, headDim, theta, type ("default"|"linear"|"llama3"), factor, low, high, old,
maxPositions}; inputs x{i} [tokens, heads, headDim], pos{i} [tokens], dy{i} [tokens, heads, headDim].
Outputs y{i}, dx{i}, and the tables cos{i}, sin{i} [maxPositions, headDim/2].
"""
import math

import torch
from oracle_io import load, save


def default_inv_freq(base, dim):  # _compute_default_rope_parameters, in float64
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float64) / dim))


def llama3_inv_freq(inv_freq, factor, low_freq_factor, high_freq_factor, old_context_len):  # _compute_llama3_parameters
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor

    wavelen = 2 * math.pi / inv_freq
    # wavelen < high_freq_wavelen: do nothing
    # wavelen > low_freq_wavelen: divide by factor
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    # otherwise: interpolate between the two, using a smooth factor
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def inv_freq_for(case):
    inv_freq = default_inv_freq(case["theta"], case["headDim"])
    if case["type"] == "linear":  # _compute_linear_scaling_rope_parameters
        inv_freq = inv_freq / case["factor"]
    elif case["type"] == "llama3":
        inv_freq = llama3_inv_freq(inv_freq, case["factor"], case["low"], case["high"], case["old"])
    return inv_freq


def cos_sin(inv_freq, positions):  # LlamaRotaryEmbedding.forward
    freqs = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, cos, sin, unsqueeze_dim=1):
    cos = cos.unsqueeze(unsqueeze_dim)  # [tokens, 1, headDim], broadcast over heads
    sin = sin.unsqueeze(unsqueeze_dim)
    return (q * cos) + (rotate_half(q) * sin)


t, args = load()
out = {}
for i, case in enumerate(args["cases"]):
    inv_freq = inv_freq_for(case)
    half = case["headDim"] // 2
    table_cos, table_sin = cos_sin(inv_freq, torch.arange(case["maxPositions"]))
    out[f"cos{i}"], out[f"sin{i}"] = table_cos[:, :half], table_sin[:, :half]

    cos, sin = cos_sin(inv_freq, t[f"pos{i}"])
    x = t[f"x{i}"].clone().requires_grad_(True)
    y = apply_rotary_pos_emb(x, cos, sin)
    y.backward(t[f"dy{i}"])
    out[f"y{i}"], out[f"dx{i}"] = y, x.grad
save(out)
