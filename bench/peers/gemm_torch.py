"""GEMM speed peer for bench gemm-cpu: times torch.matmul (fp32, OpenBLAS underneath) on the shapes given.

usage: gemm_torch.py '<json>'   with json = {"threads": [1, 0], "shapes": [{"name", "transA", "transB", "m", "n", "k"}],
                                            "min_seconds": 0.3, "min_repeats": 5}
threads 0 means all cores. Prints one JSON line per (shape, threads): {"name", "threads", "gflops", "seconds"}.
Stored operands have the layout Scalpel's bench uses (a transposed operand is a .T view of a contiguous tensor),
so OpenBLAS gets the same transpose flags and no copy is made.
"""
import ctypes
import json
import os
import sys
import time

import torch


def openblas():
    """The OpenBLAS that torch loaded, to set its pool size: torch.set_num_threads does not reach it."""
    torch.randn(8, 8) @ torch.randn(8, 8)
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "openblas" in os.path.basename(path):
                return ctypes.CDLL(path)
    return None


def time_matmul(a, b, out, min_seconds, min_repeats):
    for _ in range(3):  # warm up: thread pool start, page faults on out
        torch.matmul(a, b, out=out)
    times = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        torch.matmul(a, b, out=out)
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    times.sort()
    return times[len(times) // 2]  # median


def main():
    spec = json.loads(sys.argv[1])
    blas = openblas()
    cores = os.cpu_count() or 1
    torch.manual_seed(0)
    for threads in spec["threads"]:
        n_threads = cores if threads == 0 else threads
        torch.set_num_threads(n_threads)
        if blas is not None:
            blas.openblas_set_num_threads(n_threads)
        for s in spec["shapes"]:
            m, n, k = s["m"], s["n"], s["k"]
            a = torch.randn(k, m).T if s["transA"] else torch.randn(m, k)
            b = torch.randn(n, k).T if s["transB"] else torch.randn(k, n)
            out = torch.empty(m, n)
            sec = time_matmul(a, b, out, spec.get("min_seconds", 0.3), spec.get("min_repeats", 5))
            print(json.dumps({"name": s["name"], "threads": threads, "seconds": sec,
                              "gflops": 2.0 * m * n * k / sec / 1e9}), flush=True)


if __name__ == "__main__":
    main()
