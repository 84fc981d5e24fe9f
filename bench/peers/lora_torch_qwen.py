"""PyTorch eager peer for `bench/run memory-cpu`: a LoRA training step on Qwen2.5 shapes, batch 1 x 1024, written by hand
(peft is not installed) the way transformers + peft run a BF16 model: BF16 base weights and activations, F32 LoRA
adapters (rank 16, alpha 32, every linear of every block; the input is cast to F32 for the adapter and the sum back to
BF16, as peft does), RMSNorm and softmax in F32, eager attention (explicit scores and softmax: torch 1.13 has no SDPA),
logits in BF16 upcast to F32 for the loss, AdamW (no weight decay) on the adapters only, gradient clipping at 1.0.
No gradient checkpointing. Shapes come from the model folder's config.json; weights are random (drawn in place in BF16).

usage: lora_torch_qwen.py MODEL_DIR STEPS. Prints progress to stderr and one JSON line to stdout.
"""
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

model_dir, steps = sys.argv[1], int(sys.argv[2])
cfg = json.load(open(os.path.join(model_dir, "config.json")))
HID, LAYERS, HEADS, KV = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
INTER, VOCAB, EPS, THETA = cfg["intermediate_size"], cfg["vocab_size"], cfg["rms_norm_eps"], cfg["rope_theta"]
HD = HID // HEADS
B, T, R, ALPHA = 1, 1024, 16, 32
BF16 = torch.bfloat16
torch.manual_seed(0)
torch.set_num_threads(os.cpu_count())


def frozen(*shape, scale=0.0346, fill=None):
    t = torch.empty(*shape, dtype=BF16)
    t.fill_(fill) if fill is not None else t.uniform_(-scale, scale)
    return nn.Parameter(t, requires_grad=False)


class LoraLinear(nn.Module):
    def __init__(self, i, o, bias):
        super().__init__()
        self.weight = frozen(o, i)
        self.bias = frozen(o, scale=0.01) if bias else None
        self.lora_a = nn.Parameter(torch.empty(R, i).uniform_(-1 / math.sqrt(i), 1 / math.sqrt(i)))
        self.lora_b = nn.Parameter(torch.zeros(o, R))

    def forward(self, x):
        base = F.linear(x, self.weight, self.bias)
        return (base + F.linear(F.linear(x.float(), self.lora_a), self.lora_b) * (ALPHA / R)).to(BF16)


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = frozen(d, fill=1.0)

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + EPS)
        return self.weight * h.to(BF16)


def rotate_half(x):
    return torch.cat((-x[..., HD // 2:], x[..., : HD // 2]), dim=-1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(HID), RMSNorm(HID)
        self.q, self.k, self.v = LoraLinear(HID, HEADS * HD, True), LoraLinear(HID, KV * HD, True), LoraLinear(HID, KV * HD, True)
        self.o = LoraLinear(HEADS * HD, HID, False)
        self.gate, self.up, self.down = LoraLinear(HID, INTER, False), LoraLinear(HID, INTER, False), LoraLinear(INTER, HID, False)

    def forward(self, x, cos, sin, mask):
        h = self.n1(x)
        q = self.q(h).view(B, T, HEADS, HD).transpose(1, 2)
        k = self.k(h).view(B, T, KV, HD).transpose(1, 2)
        v = self.v(h).view(B, T, KV, HD).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(HEADS // KV, dim=1)
        v = v.repeat_interleave(HEADS // KV, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(HD) + mask
        att = torch.softmax(scores, dim=-1, dtype=torch.float32).to(BF16)
        x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, HEADS * HD))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = frozen(VOCAB, HID)   # tied: also the output head
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = RMSNorm(HID)

    def forward(self, ids):
        inv = 1.0 / (THETA ** (torch.arange(0, HD, 2).float() / HD))
        ang = torch.arange(T).float()[:, None] * inv[None, :]
        emb = torch.cat((ang, ang), -1)
        cos, sin = emb.cos().to(BF16), emb.sin().to(BF16)
        mask = torch.full((T, T), float("-inf")).triu(1).to(BF16)
        x = self.embed[ids]
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        logits = self.norm(x) @ self.embed.T
        return F.cross_entropy(logits[:, :-1].float().reshape(-1, VOCAB), ids[:, 1:].reshape(-1))


model = Model()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
ids = torch.randint(0, VOCAB, (B, T))
print(f"pytorch {torch.__version__}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters "
      f"({sum(p.numel() for p in params) / 1e6:.2f}M LoRA), BF16 base, F32 LoRA, eager attention, "
      f"no gradient checkpointing, {torch.get_num_threads()} threads", file=sys.stderr)


def step():
    opt.zero_grad(set_to_none=True)
    loss = model(ids)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss.item()


t0 = time.perf_counter()
step()  # warm-up
print(f"pytorch warm-up step: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
times = []
for s in range(steps):
    t0 = time.perf_counter()
    loss = step()
    times.append(time.perf_counter() - t0)
    print(f"pytorch step {s + 1}: {times[-1]:.1f} s, loss {loss:.4f}", file=sys.stderr)
median = statistics.median(times)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"tokens_per_s": round(B * T / median, 2), "peak_rss_bytes": peak,
                  "setup": "BF16 base, F32 LoRA, eager attention, no gradient checkpointing"}))
