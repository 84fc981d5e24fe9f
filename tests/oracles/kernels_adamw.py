"""AdamW oracle in float64: torch.optim.AdamW (amsgrad off, maximize off) run for several steps on one parameter.

Cases: args["cases"][i] = {lr, beta1, beta2, eps, weightDecay}; inputs p{i} [n] (initial values), g{i} [steps, n]
(the gradient given at each step). Outputs p{i}, m{i} (exp_avg), v{i} (exp_avg_sq) after the last step.
"""
import torch
from oracle_io import load, save

t, args = load()
out = {}
for i, case in enumerate(args["cases"]):
    p = torch.nn.Parameter(t[f"p{i}"].clone())
    opt = torch.optim.AdamW([p], lr=case["lr"], betas=(case["beta1"], case["beta2"]), eps=case["eps"],
                            weight_decay=case["weightDecay"])
    for g in t[f"g{i}"]:
        p.grad = g.clone()
        opt.step()
    state = opt.state[p]
    out.update({f"p{i}": p, f"m{i}": state["exp_avg"], f"v{i}": state["exp_avg_sq"]})
save(out)
