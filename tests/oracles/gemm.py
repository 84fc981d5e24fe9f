"""GEMM oracle: C = alpha * op(A) @ op(B) + beta * C0."""
import torch
from oracle_io import load, save

t, args = load()
a = t["a"].T if args["transA"] else t["a"]
b = t["b"].T if args["transB"] else t["b"]
save({"c": args["alpha"] * (a @ b) + args["beta"] * t["c0"]})
