"""PyTorch eager peer for `bench/run lora-cpu`: the same LoRA training step as Scalpel's LoraBench on SmolLM2-135M
shapes (hidden 576, 30 layers, 9 heads / 3 kv, intermediate 1536, vocab 49152, tied embeddings), batch 4 × 512,
fp32, LoRA rank 8 alpha 16 on all linear layers, AdamW on the adapters only. Prints one JSON line.
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
HID, LAYERS, HEADS, KV, HD, INTER, VOCAB = 576, 30, 9, 3, 64, 1536, 49152
B, T, R, ALPHA = 4, 512, 8, 16


class LoraLinear(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(o, i) * 0.02, requires_grad=False)
        self.a = nn.Parameter(torch.empty(R, i).uniform_(-1 / math.sqrt(i), 1 / math.sqrt(i)))
        self.b = nn.Parameter(torch.zeros(o, R))

    def forward(self, x):
        return F.linear(x, self.weight) + (ALPHA / R) * F.linear(F.linear(x, self.a), self.b)


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d), requires_grad=False)

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


def rotate_half(x):
    return torch.cat((-x[..., HD // 2:], x[..., : HD // 2]), dim=-1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(HID), RMSNorm(HID)
        self.q, self.k, self.v = LoraLinear(HID, HEADS * HD), LoraLinear(HID, KV * HD), LoraLinear(HID, KV * HD)
        self.o = LoraLinear(HEADS * HD, HID)
        self.gate, self.up, self.down = LoraLinear(HID, INTER), LoraLinear(HID, INTER), LoraLinear(INTER, HID)

    def forward(self, x, cos, sin, mask):
        h = self.n1(x)
        q = self.q(h).view(B, T, HEADS, HD).transpose(1, 2)
        k = self.k(h).view(B, T, KV, HD).transpose(1, 2)
        v = self.v(h).view(B, T, KV, HD).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(HEADS // KV, dim=1)
        v = v.repeat_interleave(HEADS // KV, dim=1)
        att = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(HD) + mask, dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, HEADS * HD))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Parameter(torch.randn(VOCAB, HID) * 0.02, requires_grad=False)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = RMSNorm(HID)

    def forward(self, ids, targets):
        inv = 1.0 / (100000 ** (torch.arange(0, HD, 2).float() / HD))
        ang = torch.arange(T).float()[:, None] * inv[None, :]
        emb = torch.cat((ang, ang), -1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.embed[ids]
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        logits = self.norm(x) @ self.embed.T
        return F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))


torch.set_num_threads(torch.get_num_threads())
model = Model()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4)
ids = torch.randint(0, VOCAB, (B, T))
targets = torch.randint(0, VOCAB, (B, T))


def step():
    opt.zero_grad()
    loss = model(ids, targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss.item()


step()  # warm-up
times = []
for s in range(steps):
    t0 = time.perf_counter()
    loss = step()
    times.append(time.perf_counter() - t0)
    print(f"pytorch step {s + 1}: {times[-1]:.2f} s, loss {loss:.4f}", file=sys.stderr)
median = sorted(times)[len(times) // 2]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"tokens_per_s": round(B * T / median, 2), "peak_rss_mb": round(peak, 1)}))
