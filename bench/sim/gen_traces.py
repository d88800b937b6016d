#!/usr/bin/env python3
"""Generates the simulator's bench traces (CSV "time_s,gpus", docs/simulate.md).

Every trace comes from a fixed seed, so running this again writes the same
files byte for byte. Demand is in L40S-equivalent GPUs.

  diurnal-week.csv   7 days: a daily cycle (night 2 GPUs, afternoon peak 10)
                     with 5-minute noise; weekend days at 60 %.
  bursty-day.csv     24 hours: base 1-2 GPUs and ~30 bursts whose sizes are
                     heavy-tailed (Pareto, alpha 1.5) and whose lengths are 2-40
                     minutes (log-uniform).
  batch-blocks.csv   3 days: multi-hour batch jobs (2-6 h, 4-8 GPUs) at random
                     starts over a base of 1 GPU.
  slow-ramp.csv      2 days: a launch, demand rising from 0 to 12 GPUs over 36 h
                     in 15-minute steps, then holding.

Usage: bench/sim/gen_traces.py [OUT_DIR]   (default: bench/sim/traces)
"""
import math
import os
import random
import sys


def write(path, rows):
    # Merge equal neighbours; the last row ends the run.
    out = []
    for t, g in rows:
        g = round(g, 2)
        if out and out[-1][1] == g and t != rows[-1][0]:
            continue
        out.append((t, g))
    with open(path, "w") as f:
        f.write("time_s,gpus\n")
        for t, g in out:
            f.write(f"{t},{g:g}\n")


def diurnal_week(rng):
    rows = []
    step = 300
    for t in range(0, 7 * 86400, step):
        day = t // 86400
        hour = (t % 86400) / 3600
        level = 2 + 8 * max(0.0, math.sin(math.pi * (hour - 7) / 14)) ** 1.5
        if day >= 5:
            level *= 0.6
        level += rng.gauss(0, 0.4)
        rows.append((t, max(0.0, round(level))))
    rows.append((7 * 86400, 0))
    return rows


def bursty_day(rng):
    end = 86400
    base = [(t, 1 + (1 if 8 * 3600 <= t < 20 * 3600 else 0)) for t in range(0, end, 3600)]
    events = []
    for _ in range(30):
        start = rng.randrange(0, end - 3600, 60)
        length = int(math.exp(rng.uniform(math.log(120), math.log(2400))))
        size = min(12, rng.paretovariate(1.5))
        events.append((start, start + length, size))
    points = sorted({t for t, _ in base} | {s for s, _, _ in events} | {e for _, e, _ in events})
    rows = []
    for t in points:
        if t >= end:
            continue
        b = max(g for bt, g in base if bt <= t)
        burst = sum(sz for s, e, sz in events if s <= t < e)
        rows.append((t, math.ceil(b + burst)))
    rows.append((end, 0))
    return rows


def batch_blocks(rng):
    end = 3 * 86400
    jobs = []
    t = 1800
    while t < end - 2 * 3600:
        length = rng.randrange(2 * 3600, 6 * 3600, 1800)
        jobs.append((t, t + length, rng.randrange(4, 9)))
        t += length + rng.randrange(1800, 8 * 3600, 1800)
    points = sorted({0} | {s for s, _, _ in jobs} | {e for _, e, _ in jobs})
    rows = [(p, 1 + sum(g for s, e, g in jobs if s <= p < e)) for p in points if p < end]
    rows.append((end, 0))
    return rows


def slow_ramp(rng):
    rows = []
    for t in range(0, 36 * 3600, 900):
        rows.append((t, round(12 * t / (36 * 3600) + rng.uniform(-0.5, 0.5))))
    rows.append((36 * 3600, 12))
    rows.append((48 * 3600, 0))
    return [(t, max(0, g)) for t, g in rows]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "traces")
    os.makedirs(out, exist_ok=True)
    for name, fn, seed in [("diurnal-week", diurnal_week, 1), ("bursty-day", bursty_day, 2),
                           ("batch-blocks", batch_blocks, 3), ("slow-ramp", slow_ramp, 4)]:
        write(os.path.join(out, name + ".csv"), fn(random.Random(seed)))


if __name__ == "__main__":
    main()
