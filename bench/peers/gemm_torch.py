"""GEMM speed peer for `bench/run gemm-cpu`: times torch.matmul (fp32, OpenBLAS underneath) on request.

Runs as a small server so the C# bench can interleave its own runs with ours shape by shape (both then see the
same background load). Reads one JSON request per line on stdin:
    {"transA": bool, "transB": bool, "m": int, "n": int, "k": int, "threads": int, "min_seconds": float, "min_repeats": int}
threads 0 means all cores. Answers one JSON line: {"seconds": best time of one matmul, "gflops": ..., "runs": ...}.
The stored operands have the layout Scalpel's bench uses (a transposed operand is a .T view of a contiguous
tensor), so OpenBLAS gets the same transpose flags and no copy is made. Prints {"ready": ...} once at start.
"""
import ctypes
import json
import os
import sys
import time

import torch


def openblas():
    """The OpenBLAS that torch loaded, to size its thread pool: torch.set_num_threads does not reach it."""
    torch.randn(8, 8) @ torch.randn(8, 8)
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "openblas" in os.path.basename(path):
                return ctypes.CDLL(path), path
    return None, None


def measure(req, blas):
    cores = os.cpu_count() or 1
    threads = cores if req["threads"] == 0 else req["threads"]
    torch.set_num_threads(threads)
    if blas is not None:
        blas.openblas_set_num_threads(threads)
    m, n, k = req["m"], req["n"], req["k"]
    a = torch.rand(k, m).T if req["transA"] else torch.rand(m, k)
    b = torch.rand(n, k).T if req["transB"] else torch.rand(k, n)
    a, b = a * 2 - 1, b * 2 - 1  # uniform in [-1, 1), like the C# side (views keep their strides)
    out = torch.empty(m, n)
    warm = time.perf_counter()
    runs = 0
    while runs < 3 or time.perf_counter() - warm < min(0.3, req["min_seconds"]):  # pool start-up, page faults
        torch.matmul(a, b, out=out)
        runs += 1
    best, runs = float("inf"), 0
    start = time.perf_counter()
    while (runs < req["min_repeats"] or time.perf_counter() - start < req["min_seconds"]) and runs < 500:
        t0 = time.perf_counter()
        torch.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return {"seconds": best, "gflops": 2.0 * m * n * k / best / 1e9, "runs": runs}


def main():
    blas, path = openblas()
    print(json.dumps({"ready": True, "torch": torch.__version__, "blas": path}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(measure(json.loads(line), blas)), flush=True)


if __name__ == "__main__":
    main()
