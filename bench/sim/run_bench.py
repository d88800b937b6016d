#!/usr/bin/env python3
"""Runs every policy on every bench trace under two markets and prints a
Markdown table (bench/README.md keeps the last one).

Markets:
  plentiful  every provider unlimited: the per-second offers (Runpod) take
             everything.
  limited    Runpod (per-second) runs at most 3 machines at once, so the pool
             must also use Fluence (UTC-hourly, 3 h deposit) and AWS.

Usage: bench/sim/run_bench.py BINARY [TRACE_DIR]
  BINARY: a Release build of gpupool-operator (e.g. build-sim-rel/bin/gpupool-operator)
"""
import json
import os
import subprocess
import sys
import time

POOL = "examples/sim/l40s-inference-pool.yaml"
POLICIES = ["default", "cheapest-list-price", "single-provider:fluence", "single-provider:runpod"]
MARKETS = {"plentiful": [], "limited": ["--capacity", "runpod=3"]}


def run(binary, trace, policy, market):
    args = [binary, "simulate", "--pool", POOL, "--trace", trace, "--policy", policy, "-o", "json",
            "--seed", "1"] + MARKETS[market]
    began = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True)
    wall = time.monotonic() - began
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)}: exit {p.returncode}: {p.stderr}")
    return json.loads(p.stdout), wall


def main():
    binary = sys.argv[1]
    traces = sys.argv[2] if len(sys.argv) > 2 else "bench/sim/traces"
    print("| trace | market | policy | spend $ | served | spend / bound | vs list-price | "
          "vs fluence only | vs runpod only | violations | wall s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for name in sorted(os.listdir(traces)):
        if not name.endswith(".csv"):
            continue
        for market in MARKETS:
            rows = {pol: run(binary, os.path.join(traces, name), pol, market) for pol in POLICIES}
            for pol in POLICIES:
                d, wall = rows[pol]
                def saving(base):
                    b = rows[base][0]["spend_usd"]
                    return f"{100 * (b - d['spend_usd']) / b:+.1f}%" if b else "-"
                print(f"| {name[:-4]} | {market} | {pol} | {d['spend_usd']:.2f} | "
                      f"{100 * d['served_fraction']:.2f}% | {d['spend_over_lower_bound']:.3f} | "
                      f"{saving('cheapest-list-price')} | {saving('single-provider:fluence')} | "
                      f"{saving('single-provider:runpod')} | {len(d['violations'])} | {wall:.1f} |",
                      flush=True)


if __name__ == "__main__":
    main()
