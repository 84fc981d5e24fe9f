"""LM head + cross-entropy with autograd.

Per case i: h{i} [T, D], w{i} [V, D] (a BF16 head arrives already widened), y{i} [T] with -100 = ignore,
tw{i} [T] token weights; args.cases[i] = {gradScale}. loss = Σ tw · F.cross_entropy(h @ w.T, y, reduction='none',
ignore_index=-100); outputs loss{i} [1], dh{i} = d(gradScale·loss)/dh, dw{i} likewise.
"""
import torch
import torch.nn.functional as F
from oracle_io import load, save

tensors, args = load()
outputs = {}
for i, case in enumerate(args["cases"]):
    h = tensors[f"h{i}"].clone().requires_grad_(True)
    w = tensors[f"w{i}"].clone().requires_grad_(True)
    losses = F.cross_entropy(h @ w.T, tensors[f"y{i}"], reduction="none", ignore_index=-100)
    loss = (losses * tensors[f"tw{i}"]).sum()
    (case["gradScale"] * loss).backward()
    outputs.update({f"loss{i}": loss.reshape(1), f"dh{i}": h.grad, f"dw{i}": w.grad})
save(outputs)
