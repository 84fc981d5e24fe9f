"""Driver of `bench/run memory-cpu` (see bench/README.md): for each Qwen2.5 size, `scalpel train` with LoRA (BF16 base),
QLoRA (NF4 base) and full fine-tuning, then the PyTorch eager LoRA peer, each in its own process, one after the other.
Peak RSS of every process is its kernel-reported maximum resident set (wait4's ru_maxrss), read the same way for both
sides. Tokens/s: the median over the steps after the first (the first step is the warm-up). Before each of our runs,
`scalpel train CONFIG --dry-run --json` gives the plan's peak_bytes; a plan that refuses a run is reported, not run.

usage: memory_cpu.py CLI BENCH_DIR --steps N --sizes 0.5b,1.5b   (bench/run prepares BENCH_DIR/qwen2.5-SIZE first)
"""
import json
import os
import statistics
import subprocess
import sys
import time

cli, base = sys.argv[1], sys.argv[2]
opts = dict(zip(sys.argv[3::2], sys.argv[4::2]))
steps = int(opts.get("--steps", "2"))
sizes = opts.get("--sizes", "0.5b,1.5b").split(",")
peer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers", "lora_torch_qwen.py")
METHODS = ["lora", "qlora", "full"]
LIMIT_S = 1200   # one run; a run that takes longer is stopped and reported
MIN_AVAILABLE = 1 << 30   # a run is stopped (exit 137) when the machine's MemAvailable falls below this


def available_bytes():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.startswith("MemAvailable:"))


def run_measured(argv, log_path, warmed_up, env=None):
    """Runs argv with output to log_path; returns (exit code, peak RSS bytes, wall seconds, samples). A run past LIMIT_S is
    killed (exit 124). samples: (seconds, RssAnon, RssFile, warmed_up()) read from /proc every 0.2 s, to tell what the peak
    was made of (anonymous memory, or file pages such as a memory-mapped checkpoint) and whether it came while loading or
    after the warm-up step (warmed_up: a callable that says whether the warm-up step has finished)."""
    start = time.perf_counter()
    samples = []
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + LIMIT_S
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.monotonic() > deadline or available_bytes() < MIN_AVAILABLE:
                # Past the time limit, or about to exhaust the (shared) machine's memory: stop rather than let the
                # kernel's OOM killer choose a victim.
                code = 124 if time.monotonic() > deadline else 137
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = code
                return code, usage.ru_maxrss * 1024, time.perf_counter() - start, samples
            try:
                fields = dict(l.split(":", 1) for l in open(f"/proc/{proc.pid}/status"))
                samples.append((time.perf_counter() - start, int(fields["RssAnon"].split()[0]) * 1024,
                                int(fields["RssFile"].split()[0]) * 1024, warmed_up()))
            except (OSError, KeyError, ValueError):
                pass
            time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(os.path.splitext(log_path)[0] + ".rss.tsv", "w") as f:
        f.write("seconds\trss_anon_mib\trss_file_mib\tafter_warmup\n")
        f.writelines(f"{t:.1f}\t{a / 2**20:.0f}\t{b / 2**20:.0f}\t{int(w)}\n" for t, a, b, w in samples)
    return proc.returncode, usage.ru_maxrss * 1024, time.perf_counter() - start, samples


def describe_peak(samples):
    """Where the largest sampled RSS was, e.g. 'sampled peak at 36 s of 130 (loading): 1250 MiB anonymous + 633 MiB file
    pages', and the largest RSS sampled after the warm-up step (bytes, or None)."""
    if not samples:
        return "no samples", None
    t, anon, file, warm = max(samples, key=lambda s: s[1] + s[2])
    after = max((a + b for _, a, b, w in samples if w), default=None)
    return (f"sampled peak at {t:.0f} s of {samples[-1][0]:.0f} ({'after the warm-up step' if warm else 'loading or warm-up step'}): "
            f"{anon / 2**20:.0f} MiB anonymous + {file / 2**20:.0f} MiB file pages; largest after the warm-up step "
            + (f"{after / 2**20:.0f} MiB" if after else "n/a")), after


def plan(size_dir, method, overrides):
    """The --dry-run plan: (peak_bytes or None, None) when it fits, (peak_bytes or None, message) when refused or unavailable."""
    r = subprocess.run([cli, "train", os.path.join(size_dir, method + ".yaml"), "--dry-run", "--json", *overrides],
                       capture_output=True, text=True, timeout=300)
    data = None
    for line in [r.stdout] + r.stdout.splitlines()[::-1]:
        try:
            data = json.loads(line)
            break
        except (json.JSONDecodeError, ValueError):
            continue
    peak = data.get("peak_bytes") if isinstance(data, dict) else None
    if "unknown option '--dry-run'" in r.stderr + r.stdout:
        return None, "unavailable"
    if r.returncode != 0:
        if isinstance(data, dict) and data.get("fits") is False:
            advice = "; ".join(data.get("advice", []))
            return peak, (f"refused: needs {data['peak_bytes'] / 2**30:.2f} GiB, {data.get('available_bytes', 0) / 2**30:.2f} GiB "
                          f"available" + (f" ({advice})" if advice else ""))
        message = [l for l in (r.stderr + r.stdout).strip().splitlines() if l.strip()]
        return peak, "refused: " + (message[0] if message else f"exit {r.returncode}")
    return peak, None


def tokens_per_second(metrics_path):
    rows = [json.loads(l) for l in open(metrics_path) if l.strip()]
    train = [r for r in rows if r.get("type") == "train"]
    timed = [r["tokens_per_s"] for r in train[1:]]
    return (statistics.median(timed) if timed else None), [r["loss"] for r in train]


results = {}
for size in sizes:
    size_dir = os.path.join(base, f"qwen2.5-{size}")
    for method in METHODS:
        run_dir = os.path.join(size_dir, "runs", method)
        subprocess.run(["rm", "-rf", run_dir, os.path.join(size_dir, "home")], check=True)
        overrides = ["--set", f"training.max_steps={steps + 1}", "--set", f"output.dir={run_dir}"]
        planned, refusal = plan(size_dir, method, overrides)
        row = {"plan_peak_bytes": planned, "plan_note": refusal}
        results[(size, method)] = row
        if refusal and refusal != "unavailable":
            row["status"] = "refused by plan: " + refusal.removeprefix("refused: ")
            print(f"{size} {method}: refused by plan ({refusal})", file=sys.stderr)
            continue
        if refusal == "unavailable" and method == "full" and size != "0.5b":
            # Without a plan, do not start what cannot fit: F32 weights, gradients and two Adam moments are 16 bytes a parameter.
            row["status"] = "not run (no --dry-run plan; 16 B/parameter exceeds memory)"
            print(f"{size} {method}: {row['status']}", file=sys.stderr)
            continue
        print(f"{size} {method}: scalpel train ({steps + 1} steps, gradient checkpointing on)", file=sys.stderr)
        metrics = os.path.join(run_dir, "metrics.jsonl")
        warmed_up = lambda: os.path.exists(metrics) and os.path.getsize(metrics) > 0
        code, peak, wall, samples = run_measured([cli, "train", os.path.join(size_dir, method + ".yaml"), *overrides,
                                                  "--home", os.path.join(size_dir, "home")], os.path.join(size_dir, method + ".log"),
                                                 warmed_up)
        row["peak_detail"], row["after_warmup_bytes"] = describe_peak(samples)
        row.update(peak_rss_bytes=peak, wall_s=wall)
        if code != 0 or not os.path.exists(metrics):
            tail = open(os.path.join(size_dir, method + ".log")).read().strip().splitlines()[-3:]
            row["status"] = (f"stopped at {peak / 2**30:.1f} GiB: the machine's free memory ran out" if code == 137 else
                             f"failed (exit {code}): " + " | ".join(tail))
            print(f"{size} {method}: {row['status']}", file=sys.stderr)
            continue
        row["tokens_per_s"], row["losses"] = tokens_per_second(metrics)
        row["status"] = "ok"
        print(f"{size} {method}: {row['tokens_per_s']:.1f} tokens/s, peak RSS {peak / 2**20:.0f} MiB, "
              f"losses {[round(x, 3) for x in row['losses']]}, {wall:.0f} s; {row['peak_detail']}", file=sys.stderr)

    print(f"{size} pytorch eager LoRA", file=sys.stderr)
    env = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count()))
    log = os.path.join(size_dir, "pytorch.log")
    warmed_up = lambda: "pytorch warm-up step" in open(log).read()
    code, peak, wall, samples = run_measured(["/usr/bin/python3", peer, os.path.join(size_dir, "model"), str(steps)], log,
                                             warmed_up, env)
    lines = open(log).read().strip().splitlines()
    detail, after = describe_peak(samples)
    row = results[(size, "pytorch")] = {"peak_rss_bytes": peak, "wall_s": wall, "peak_detail": detail, "after_warmup_bytes": after}
    if code == 0:
        row.update(json.loads(lines[-1]), status="ok")
        print(f"{size} pytorch: {row['tokens_per_s']:.1f} tokens/s, peak RSS {peak / 2**20:.0f} MiB, {wall:.0f} s; {row['peak_detail']}", file=sys.stderr)
    else:
        row["status"] = (f"stopped at {peak / 2**30:.1f} GiB: the machine's free memory ran out" if code == 137 else
                         f"failed (exit {code}): " + " | ".join(lines[-3:]))
        print(f"{size} pytorch: {row['status']}", file=sys.stderr)

# ── the table ──
def mib(b):
    return f"{b / 2**20:.0f}" if b else "—"


print()
print(f"batch 1 x 1024 tokens, {steps} timed steps after 1 warm-up; ours: `scalpel train` with gradient checkpointing on; "
      f"pytorch: eager, no gradient checkpointing; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
print("peak RSS: the process's maximum resident set (wait4); after warm-up: the largest RSS sampled every 0.2 s after the "
      "first step finished (the timed steps and, for ours, the final checkpoint save)")
print(f"{'model':8} {'run':24} {'tokens/s':>9} {'peak RSS MiB':>13} {'after warm-up':>14} {'plan MiB':>9} {'plan/measured':>14}  status")
names = {"lora": "scalpel LoRA BF16", "qlora": "scalpel QLoRA NF4", "full": "scalpel full F32", "pytorch": "pytorch eager LoRA BF16"}
for size in sizes:
    for method in METHODS + ["pytorch"]:
        r = results[(size, method)]
        ratio = (f"{r['plan_peak_bytes'] / r['peak_rss_bytes']:.2f}" if r.get("plan_peak_bytes") and r.get("peak_rss_bytes")
                 else "n/a")
        tps = f"{r['tokens_per_s']:.1f}" if r.get("tokens_per_s") else "—"
        status = r["status"] if r["status"] != "ok" else ""
        if r.get("plan_note") == "unavailable":
            status = (status + "; " if status else "") + "no --dry-run plan"
        print(f"{size:8} {names[method]:24} {tps:>9} {mib(r.get('peak_rss_bytes')):>13} {mib(r.get('after_warmup_bytes')):>14} "
              f"{mib(r.get('plan_peak_bytes')):>9} {ratio:>14}  {status}")


def ratio(size, a, b, key):
    x, y = results[(size, a)], results[(size, b)]
    ok = x["status"] == y["status"] == "ok"
    return x[key] / y[key] if ok and x.get(key) and y.get(key) else None


r1s, r2s = [], []
for size in sizes:
    r1, r2 = ratio(size, "qlora", "pytorch", "peak_rss_bytes"), ratio(size, "qlora", "lora", "tokens_per_s")
    r1s.append(r1)
    r2s.append(r2)
    fmt = lambda v: f"{v:.2f}" if v is not None else "n/a"
    print(f"{size}: qlora/pytorch-lora peak_rss={fmt(r1)} (target <= 0.2)  qlora/lora tokens_per_s={fmt(r2)} (target >= 0.8)")
q = results.get(("0.5b", "qlora"), {})
r3 = q["plan_peak_bytes"] / q["peak_rss_bytes"] if q.get("plan_peak_bytes") and q.get("peak_rss_bytes") else None
if r3 is None:
    print("plan/measured: n/a (" + ("`scalpel train --dry-run --json` is not available in this build" if q.get("plan_note") == "unavailable"
                                    else "no QLoRA 0.5b plan and measurement") + ")")
worst1 = max((v for v in r1s if v is not None), default=None)
worst2 = min((v for v in r2s if v is not None), default=None)
f = lambda v: f"{v:.2f}" if v is not None else "n/a"
print(f"memory-cpu qlora/pytorch-lora peak_rss={f(worst1)} qlora/lora tokens_per_s={f(worst2)} plan/measured peak={f(r3)}")
