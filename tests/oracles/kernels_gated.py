"""Gated MLP activation oracle in float64: out = act(gate) * up with act = F.silu (SwiGLU) or
F.gelu(approximate="tanh") (Gemma's gelu_pytorch_tanh); gradients of gate and up from autograd.

Cases: args["cases"][i] = {activation: "silu"|"gelu_tanh"}; inputs gate{i}, up{i}, dout{i} (same shape).
Outputs out{i}, dgate{i}, dup{i}.
"""
import torch
import torch.nn.functional as F
from oracle_io import load, save

ACTIVATIONS = {"silu": F.silu, "gelu_tanh": lambda g: F.gelu(g, approximate="tanh")}

t, args = load()
out = {}
for i, case in enumerate(args["cases"]):
    gate = t[f"gate{i}"].clone().requires_grad_(True)
    up = t[f"up{i}"].clone().requires_grad_(True)
    y = ACTIVATIONS[case["activation"]](gate) * up
    y.backward(t[f"dout{i}"])
    out.update({f"out{i}": y, f"dgate{i}": gate.grad, f"dup{i}": up.grad})
save(out)
