"""Progress bars on a terminal, silence otherwise."""

from __future__ import annotations

import io
import sys

import pytest

from flightontime.data import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert not progress.enabled()
    assert list(progress.progress_iter(range(5), "counting")) == [0, 1, 2, 3, 4]
    with progress.task("work", total=3) as bar:
        bar.advance(3)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert progress.enabled()
    assert list(progress.progress_iter([1, 2, 3], "Reading ANAC VRA")) == [1, 2, 3]
    with progress.task("Downloading", total=2) as bar:
        bar.advance()
        bar.advance()
    shown = terminal.getvalue()
    assert "Reading ANAC VRA" in shown
    assert "3/3" in shown
    assert "Downloading" in shown
