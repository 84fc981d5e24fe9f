"""NF4 oracle (QLoRA, Dettmers et al. 2023).

codebook: the 16 NF4 values from the paper's definition, as bitsandbytes' create_normal_map(offset=0.9677083):
8 positive quantiles of N(0, 1) at linspace(offset, 0.5, 9)[:-1], 7 negative at linspace(offset, 0.5, 8)[:-1],
and an exact 0, sorted and divided by the largest.
Input x (length a multiple of 64): codes = index of the published codebook value nearest to x / absmax of its
block of 64 (ties to the lower value), dequantized = published[codes] * absmax (single-level, fp64 absmax).
"""
import torch
from oracle_io import load, save

t, args = load()
normal = torch.distributions.Normal(0.0, 1.0)
offset = 0.9677083
v1 = normal.icdf(torch.linspace(offset, 0.5, 9)[:-1])
v3 = -normal.icdf(torch.linspace(offset, 0.5, 8)[:-1])
values = torch.cat([v1, torch.zeros(1), v3]).sort().values
codebook = values / values.max()

published = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0])

x = t["x"].reshape(-1, 64)
absmax = x.abs().amax(dim=1, keepdim=True)
normed = (x / torch.where(absmax == 0, torch.ones_like(absmax), absmax)).to(torch.float32).to(torch.float64)
mid = ((published[:-1] + published[1:]) / 2).to(torch.float32).to(torch.float64)
codes = (normed.unsqueeze(-1) > mid).sum(-1)
save({"codebook": codebook.float(), "codes": codes.reshape(-1).int(), "dequantized": (published[codes] * absmax).reshape(-1)})
