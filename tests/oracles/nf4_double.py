"""NF4 double quantization oracle (QLoRA §3; bitsandbytes quantize_4bit(compress_statistics=True)).

map: bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), built with torch as its
definition says: for i in 0..6 the midpoints of linspace(0.1, 1, 2**i + 1) times +-10**(i - 6), plus 0 and 1, sorted.
Input absmax (the fp32 block absmax values) and offset (their mean, as the code under test computed it): per group
of 256, amax = max |absmax - offset|, q = argmin |(absmax - offset) / amax - map|, dequantized = map[q] * amax + offset.
"""
import torch
from oracle_io import load, save

t, args = load()
data = []
for i in range(7):
    boundaries = torch.linspace(0.1, 1, 2 ** i + 1)
    means = (boundaries[:-1] + boundaries[1:]) / 2.0
    data += ((10 ** (-6 + i)) * means).tolist()
    data += (-(10 ** (-6 + i)) * means).tolist()
data += [0.0, 1.0]
assert len(data) == 256
code = torch.tensor(sorted(data), dtype=torch.float32)

absmax = t["absmax"].float()
offset = t["offset"].float()[0]
centered = absmax - offset
out = torch.empty_like(absmax)
for g in range(0, absmax.numel(), 256):
    block = centered[g:g + 256]
    amax = block.abs().max()
    normed = block / amax if amax > 0 else torch.zeros_like(block)
    q = (normed.unsqueeze(-1) - code).abs().argmin(dim=-1)
    out[g:g + 256] = code[q] * amax + offset
save({"map": code, "dequantized": out})
