"""GEMM oracle, several cases per call (each python start costs ~0.8 s).

args: {"cases": [{"transA", "transB", "alpha", "beta"}, ...]}; inputs a{i}, b{i}, c{i} (C before the call).
Output c{i} = alpha * op(a{i}) @ op(b{i}) + beta * c{i}, computed in float64. BF16 cases send B already widened
to f32 (exact), so the oracle needs no BF16 type.
"""
from oracle_io import load, save

t, args = load()
out = {}
for i, case in enumerate(args["cases"]):
    a = t[f"a{i}"].T if case["transA"] else t[f"a{i}"]
    b = t[f"b{i}"].T if case["transB"] else t[f"b{i}"]
    out[f"c{i}"] = case["alpha"] * (a @ b) + case["beta"] * t[f"c{i}"]
save(out)
