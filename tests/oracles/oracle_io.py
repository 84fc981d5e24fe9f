"""Tensor exchange between the C# tests (TorchOracle.cs) and PyTorch oracle scripts.

A work folder holds inputs.json (name -> {file, dtype f32|i32, shape}), the raw little-endian files,
and args.json. The script writes outputs the same way into outputs.json.
"""
import json
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)  # oracles compute in float64 so their own rounding is negligible


def load():
    folder = sys.argv[1]
    with open(os.path.join(folder, "inputs.json")) as f:
        manifest = json.load(f)
    with open(os.path.join(folder, "args.json")) as f:
        args = json.load(f)
    tensors = {}
    for name, meta in manifest.items():
        dtype = np.float32 if meta["dtype"] == "f32" else np.int32
        data = np.fromfile(os.path.join(folder, meta["file"]), dtype=dtype).reshape(meta["shape"])
        t = torch.from_numpy(data.copy())
        tensors[name] = t.to(torch.float64) if meta["dtype"] == "f32" else t.to(torch.int64)
    return tensors, args


def save(outputs):
    folder = sys.argv[1]
    manifest = {}
    for name, t in outputs.items():
        t = t.detach()
        if t.dtype.is_floating_point:
            arr, dtype = t.to(torch.float32).numpy(), "f32"
        else:
            arr, dtype = t.to(torch.int32).numpy(), "i32"
        arr = np.ascontiguousarray(arr)
        arr.tofile(os.path.join(folder, name + ".bin"))
        manifest[name] = {"file": name + ".bin", "dtype": dtype, "shape": list(arr.shape)}
    with open(os.path.join(folder, "outputs.json"), "w") as f:
        json.dump(manifest, f)
