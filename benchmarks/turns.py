"""What encoder benchmarks print about the machine, and paths timed taking turns (shared by
vitb_encoder_profile.py and bench_sam2.py)."""

import os
import time
from pathlib import Path

import numpy as np


def machine_line() -> str:
    """CPU model, AVX2 / AVX-512 / VNNI / AMX flags, cores, a numpy fp32 GEMM figure and the load average."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    lines = info.splitlines()
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "?")
    flags = set(next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), []))
    isa = [label for flag, label in (("avx2", "AVX2"), ("avx512f", "AVX-512F"), ("avx512_vnni", "AVX512-VNNI"),
                                     ("amx_int8", "AMX-INT8"), ("amx_bf16", "AMX-BF16")) if flag in flags]
    return (f"{name}; {os.cpu_count()} CPUs; {' '.join(isa) or 'no AVX2'}; numpy fp32 GEMM "
            f"{gemm_gflops():.0f} GFLOP/s; {load()}")


def load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def gemm_gflops(n: int = 2048, runs: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def take_turns(paths: dict, rounds: int, warmup: int = 1, cpu: dict = None) -> dict:
    """Seconds per call of each path (name -> zero-argument callable), the paths taking turns in every
    round so that load changes hit all alike; returns name -> list of per-round seconds. `cpu`, if given,
    is filled the same way with the process's CPU seconds (all threads) per call, which other jobs on
    the machine disturb less than wall time."""
    for _ in range(warmup):
        for fn in paths.values():
            fn()
    times = {name: [] for name in paths}
    if cpu is not None:
        cpu.update({name: [] for name in paths})
    for _ in range(rounds):
        for name, fn in paths.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - t)
            if cpu is not None:
                cpu[name].append(time.process_time() - c)
    return times


def ratio_lines(times: dict, base: str) -> list:
    """One line per path: median ms, its ratio to `base` from the medians, and the per-round ratios."""
    ref = np.median(times[base])
    out = []
    for name, ts in times.items():
        rounds = " ".join(f"{t / b:.2f}" for t, b in zip(ts, times[base]))
        out.append(f"  {name:34s} {np.median(ts) * 1000:8.0f} ms  ratio {np.median(ts) / ref:.2f}  (rounds: {rounds})")
    return out
