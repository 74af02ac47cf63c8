"""Bounded, continuous /predict load for the blue-green test: a few threads, each with its own
keep-alive HTTP client, sending the backend's request until told to stop (or a cap is reached)."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Answer:
    started: float  # time.time()
    ended: float
    status: int  # 0 = no HTTP answer (connection error, timeout)
    version: str | None
    slot: str | None
    error: str | None = None


@dataclass
class Load:
    url: str
    token: str
    body: dict[str, object]
    threads: int = 4
    max_requests: int = 20_000
    max_seconds: float = 300.0
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for i in range(self.threads):
            worker = threading.Thread(target=self._run, name=f"load-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)
        return self.answers

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        headers = {"Authorization": self.token}
        with httpx.Client(base_url=self.url, timeout=15, headers=headers) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                with self._lock:
                    if len(self.answers) >= self.max_requests:
                        return
                started = time.time()
                try:
                    r = client.post("/predict", json=self.body)
                    version = r.json().get("versao_modelo") if r.status_code == 200 else None
                    answer = Answer(
                        started,
                        time.time(),
                        r.status_code,
                        version,
                        r.headers.get("x-flightontime-slot"),
                        None if r.status_code == 200 else r.text[:200],
                    )
                except (httpx.HTTPError, ValueError) as exc:
                    answer = Answer(started, time.time(), 0, None, None, repr(exc))
                with self._lock:
                    self.answers.append(answer)


def summary(answers: list[Answer]) -> dict[str, float]:
    latencies = sorted(a.ended - a.started for a in answers if a.status == 200)

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0
        )

    span = (max(a.ended for a in answers) - min(a.started for a in answers)) if answers else 0.0
    return {
        "sent": len(answers),
        "ok": sum(a.status == 200 for a in answers),
        "lost": sum(a.status != 200 for a in answers),
        "seconds": span,
        "rps": len(answers) / span if span else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0.0,
    }
