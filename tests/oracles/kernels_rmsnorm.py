"""RMSNorm oracle: transformers' LlamaRMSNorm (weight_offset 0) and GemmaRMSNorm (weight_offset 1), verbatim,
run in fp32 like the models do, with gradients from autograd.

Cases: args["cases"][i] = {rows, dim, offset, eps}; inputs x{i} [rows, dim], w{i} [dim], dy{i} [rows, dim].
Outputs y{i}, rstd{i} [rows], dx{i}, dw{i}.
"""
import torch
from torch import nn
from oracle_io import load, save


class LlamaRMSNorm(nn.Module):  # transformers/models/llama/modeling_llama.py
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


class GemmaRMSNorm(nn.Module):  # transformers/models/gemma/modeling_gemma.py
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def _norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x):
        output = self._norm(x.float())
        output = output * (1.0 + self.weight.float())
        return output.type_as(x)


t, args = load()
out = {}
for i, case in enumerate(args["cases"]):
    f32 = torch.float32
    norm = (GemmaRMSNorm if case["offset"] == 1 else LlamaRMSNorm)(case["dim"], eps=case["eps"]).to(f32)
    with torch.no_grad():
        norm.weight.copy_(t[f"w{i}"].to(f32))
    x = t[f"x{i}"].to(f32).requires_grad_(True)
    y = norm(x)
    y.backward(t[f"dy{i}"].to(f32))
    with torch.no_grad():
        rstd = torch.rsqrt(x.pow(2).mean(-1) + case["eps"])
    out.update({f"y{i}": y, f"rstd{i}": rstd, f"dx{i}": x.grad, f"dw{i}": norm.weight.grad})
save(out)
