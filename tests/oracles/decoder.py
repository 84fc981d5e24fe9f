"""Reference Llama-family decoder in plain PyTorch, written to be obviously equal to the Hugging Face definitions
(LlamaRMSNorm, rotate_half RoPE, repeat_kv, eager attention, SwiGLU MLP), for whole-model checks.

inputs: every weight by its HF name; LoRA weights as '<module>.lora_A.weight' / '.lora_B.weight'; a DoRA magnitude as
        '<module>.lora_magnitude_vector' (the linear then computes peft's DoRA, see linear()); an 'lm_head.weight' input is
        the head even when spec.tie (an untied copy, as peft's modules_to_save makes);
        per micro-batch i: mb{i}_ids, mb{i}_positions, mb{i}_segstart, mb{i}_targets, mb{i}_weights.
args:   spec (hidden, layers, heads, kv_heads, head_dim, eps, theta, rope {type, factor, low, high, original},
        qk_norm, norm_offset, embed_scale, activation, sliding_window, tie), lora_scaling, micro_batches,
        mode 'grads' (loss + gradients of trainable params) or 'train' (steps of AdamW → final params),
        trainable 'lora' | 'full' | a list of names, optimizer settings (optional loraplus_ratio: lr × ratio for
        lora_B and 1-D parameters, as peft's create_loraplus_optimizer groups them).
"""
import math

import torch
import torch.nn.functional as F
from oracle_io import load, save

t, args = load()
spec = args["spec"]
D = spec["head_dim"]
H, KV = spec["heads"], spec["kv_heads"]
eps, offset = spec["eps"], spec["norm_offset"]


def inv_freq():
    f = 1.0 / (spec["theta"] ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    rope = spec["rope"]
    if rope["type"] == "linear":
        f = f / rope["factor"]
    elif rope["type"] == "llama3":  # transformers _compute_llama3_parameters
        factor, low, high, old = rope["factor"], rope["low"], rope["high"], rope["original"]
        low_wl, high_wl = old / low, old / high
        wavelen = 2 * math.pi / f
        scaled = torch.where(wavelen > low_wl, f / factor, f)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= high_wl) & (wavelen <= low_wl)
        f = torch.where(medium, smoothed, scaled)
    return f


INV_FREQ = inv_freq()


def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (w + offset)


def rotate_half(x):
    return torch.cat((-x[..., D // 2:], x[..., : D // 2]), dim=-1)


def rope(x, pos):  # x [T, heads, D]
    ang = pos[:, None].to(torch.float64) * INV_FREQ[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    return x * emb.cos()[:, None, :] + rotate_half(x) * emb.sin()[:, None, :]


def attention(q, k, v, segstart):  # q [T,H,D], k/v [T,KV,D]
    T = q.shape[0]
    k = k.repeat_interleave(H // KV, dim=1)  # repeat_kv
    v = v.repeat_interleave(H // KV, dim=1)
    scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(D)
    tt = torch.arange(T)[:, None]
    ss = torch.arange(T)[None, :]
    allowed = (ss <= tt) & (ss >= segstart[:, None])
    if spec["sliding_window"] > 0:
        allowed &= (tt - ss) < spec["sliding_window"]
    scores = scores.masked_fill(~allowed[None], float("-inf"))
    p = torch.softmax(scores, dim=-1)
    return torch.einsum("hts,shd->thd", p, v)


params = {}
for name, value in t.items():
    if not name.startswith("mb") and not name.startswith("mask."):
        params[name] = value.clone().requires_grad_(True)


def linear(x, module):
    y = x @ params[module + ".weight"].T
    if module + ".bias" in params:
        y = y + params[module + ".bias"]
    # LoRA dropout as a given mask 'mask.<module>' [T, in] (0 or 1/(1 − p)): peft drops only the adapter's input.
    xd = x * t["mask." + module] if "mask." + module in t else x
    if module + ".lora_magnitude_vector" in params:
        # peft's DoraLinearLayer at dropout 0: result = base(x) + (m/‖W + s·B·A‖ − 1)·x·Wᵀ + m/‖…‖ · s·B·A·x,
        # the norm (row-wise, dim=1) computed from a detached B·A and itself detached.
        s = args["lora_scaling"]
        W, A, B = params[module + ".weight"], params[module + ".lora_A.weight"], params[module + ".lora_B.weight"]
        weight_norm = torch.linalg.norm(W + s * (B @ A).detach(), dim=1).detach()
        mag_norm_scale = (params[module + ".lora_magnitude_vector"] / weight_norm).view(1, -1)
        # With dropout peft recomputes the base term on the dropped input: (g − 1)·x̃·Wᵀ + g·s·B·A·x̃ on top of base(x).
        lora_result = (xd @ A.T) @ B.T
        return y + (mag_norm_scale - 1) * (xd @ W.T) + mag_norm_scale * lora_result * s
    if module + ".lora_A.weight" in params:
        y = y + args["lora_scaling"] * (xd @ params[module + ".lora_A.weight"].T) @ params[module + ".lora_B.weight"].T
    return y


def act(g):
    return F.silu(g) if spec["activation"] == "silu" else F.gelu(g, approximate="tanh")


def weighted_loss_sum(i):
    ids, pos, seg = t[f"mb{i}_ids"], t[f"mb{i}_positions"], t[f"mb{i}_segstart"]
    targets, w = t[f"mb{i}_targets"], t[f"mb{i}_weights"]
    T = ids.shape[0]
    x = params["model.embed_tokens.weight"][ids] * spec["embed_scale"]
    for l in range(spec["layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, params[p + "input_layernorm.weight"])
        q = linear(h, p + "self_attn.q_proj").view(T, H, D)
        k = linear(h, p + "self_attn.k_proj").view(T, KV, D)
        v = linear(h, p + "self_attn.v_proj").view(T, KV, D)
        if spec["qk_norm"]:
            q = rms_norm(q, params[p + "self_attn.q_norm.weight"])
            k = rms_norm(k, params[p + "self_attn.k_norm.weight"])
        a = attention(rope(q, pos), rope(k, pos), v, seg).reshape(T, H * D)
        x = x + linear(a, p + "self_attn.o_proj")
        h = rms_norm(x, params[p + "post_attention_layernorm.weight"])
        x = x + linear(act(linear(h, p + "mlp.gate_proj")) * linear(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    h = rms_norm(x, params["model.norm.weight"])
    head = params["lm_head.weight" if "lm_head.weight" in params else "model.embed_tokens.weight"]
    nll = F.cross_entropy(h @ head.T, targets, ignore_index=-100, reduction="none")
    return (nll * w).sum(), w[targets != -100].sum()


if isinstance(args["trainable"], list):
    trainable = list(args["trainable"])
elif args["trainable"] == "lora":
    trainable = [n for n in params if ".lora_" in n]
else:
    trainable = list(params)
for n, p in params.items():
    p.requires_grad_(n in trainable)


def total_loss():
    sums = [weighted_loss_sum(i) for i in range(args["micro_batches"])]
    return sum(s for s, _ in sums) / sum(w for _, w in sums)


out = {}
if args["mode"] == "grads":
    loss = total_loss()
    loss.backward()
    out["loss"] = loss.detach().reshape(1)
    for n in trainable:
        out["grad." + n] = params[n].grad
else:
    o = args["optimizer"]
    ratio = o.get("loraplus_ratio")

    def plus(n):  # create_loraplus_optimizer: "lora_B" in the name or a 1-D parameter → groupB
        return ratio is not None and ("lora_B" in n or params[n].dim() == 1)

    groups = []
    for decays in (True, False):
        for boosted in (False, True):
            names = [n for n in trainable if (params[n].dim() >= 2) == decays and plus(n) == boosted]
            if names:
                groups.append({"params": [params[n] for n in names], "weight_decay": o["weight_decay"] if decays else 0.0,
                               "lr": o["lr"] * (ratio if boosted else 1.0)})
    opt = torch.optim.AdamW(groups, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])
    warmup, total, floor = o["warmup"], o["total"], o["min_ratio"]

    def factor(step):  # get_cosine_schedule_with_warmup with a floor
        if step < warmup:
            return step / max(1, warmup)
        progress = min((step - warmup) / max(1, total - warmup), 1.0)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    losses = []
    for _ in range(o["steps"]):
        opt.zero_grad()
        loss = total_loss()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([params[n] for n in trainable], o["max_grad_norm"])
        opt.step()
        sched.step()
        losses.append(loss.detach())
    out["losses"] = torch.stack(losses)
    for n in trainable:
        out["param." + n] = params[n]
save(out)
