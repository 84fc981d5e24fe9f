"""Embedding oracle in float64: F.embedding forward, and the table gradient from autograd (repeated ids add up).

Cases: args["cases"][i] = {bf16: bool}; inputs ids{i} [tokens], dout{i} [tokens, dim], and either table{i} [vocab, dim]
(F32) or bits{i} [vocab, dim] (raw BF16 bits as int32, widened here as bits << 16 reinterpreted as float32).
Outputs out{i} [tokens, dim], dtable{i} [vocab, dim].
"""
import numpy as np
import torch
import torch.nn.functional as F
from oracle_io import load, save

t, args = load()
out = {}
for i, case in enumerate(args["cases"]):
    if case["bf16"]:
        bits = t[f"bits{i}"].numpy().astype(np.uint32)
        table = torch.from_numpy((bits << 16).view(np.float32)).to(torch.float64)
    else:
        table = t[f"table{i}"]
    table = table.clone().requires_grad_(True)
    y = F.embedding(t[f"ids{i}"], table)
    y.backward(t[f"dout{i}"])
    out.update({f"out{i}": y, f"dtable{i}": table.grad})
save(out)
