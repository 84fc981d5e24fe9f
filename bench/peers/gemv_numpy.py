"""GEMV speed peer for `bench/run gemv-cpu`: times numpy `a @ w.T` in fp32 on request.

Debian's numpy calls the system BLAS (OpenBLAS when libopenblas0-pthread provides libblas.so.3): cblas_sgemv when
a has one row, cblas_sgemm otherwise; w.T is a view, so no copy is made. The OpenBLAS thread count is fixed at start
by OPENBLAS_NUM_THREADS (set by the C# bench). Runs as a small server so the bench can interleave its own runs with
ours shape by shape. Reads one JSON request per line on stdin:
    {"m": int, "n": int, "k": int, "copies": int, "min_seconds": float, "min_repeats": int}
Like the C# side it keeps `copies` copies of the weight [n, k] and cycles through them (copies > 1 push the weights
out of the cache, as decoding a whole model does), and keeps the fastest product. Answers one JSON line:
{"seconds": best time of one product, "runs": ...}. Prints {"ready": ...} once at start.
"""
import json
import sys
import time

import numpy as np


def blas_library():
    """The BLAS shared library this process loaded (numpy loads it on import)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in path:
                return path
    return None


def measure(req):
    m, n, k, copies = req["m"], req["n"], req["k"], req["copies"]
    rng = np.random.default_rng(42)
    weights = [(rng.random((n, k), dtype=np.float32) * 2 - 1).T for _ in range(copies)]  # views [k, n] of [n, k]
    a = rng.random((m, k), dtype=np.float32) * 2 - 1
    out = np.empty((m, n), dtype=np.float32)
    call = 0
    warm = time.perf_counter()
    while call < 2 * copies or time.perf_counter() - warm < min(0.2, req["min_seconds"]):  # pool start-up, page faults
        np.matmul(a, weights[call % copies], out=out)
        call += 1
    best, runs = float("inf"), 0
    start = time.perf_counter()
    while (runs < max(req["min_repeats"], copies) or time.perf_counter() - start < req["min_seconds"]) and runs < 5000:
        w = weights[call % copies]
        t0 = time.perf_counter()
        np.matmul(a, w, out=out)
        best = min(best, time.perf_counter() - t0)
        call += 1
        runs += 1
    return {"seconds": best, "runs": runs}


def main():
    print(json.dumps({"ready": True, "numpy": np.__version__, "blas": blas_library()}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(measure(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
