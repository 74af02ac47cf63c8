"""pip-audit gate: a real vulnerability fails; an unreachable data source is said, not failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .pip_audit_gate import decide, main, run_pip_audit

VULNERABLE = {
    "dependencies": [
        {"name": "msgspec", "version": "0.1.0", "vulns": []},
        {
            "name": "starlette",
            "version": "0.1.0",
            "vulns": [{"id": "PYSEC-2099-1", "fix_versions": ["0.2.0"], "aliases": ["CVE-2099-1"]}],
        },
    ]
}
UNREACHABLE = {
    "dependencies": [
        {"name": "msgspec", "skip_reason": "Dependency not found on PyPI and could not be audited"},
        {"name": "numpy", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    ]
}
CLEAN = {"dependencies": [{"name": "msgspec", "version": "1.0", "vulns": []}]}


def test_a_known_vulnerability_fails() -> None:
    verdict = decide(VULNERABLE)
    assert verdict.status == "vulnerable"
    assert verdict.exit_code == 1
    assert any(
        "starlette 0.1.0: PYSEC-2099-1 (CVE-2099-1); fixed in: 0.2.0" in x for x in verdict.lines
    )


def test_skipped_packages_are_not_a_clean_result_and_do_not_fail() -> None:
    verdict = decide(UNREACHABLE)
    assert verdict.status == "not-audited"
    assert verdict.exit_code == 0
    assert "NOT AUDITED: 2 of 2" in verdict.lines[0]
    assert "NOT a clean result" in verdict.lines[1]


def test_a_vulnerability_fails_even_when_other_packages_were_skipped() -> None:
    report = {"dependencies": VULNERABLE["dependencies"] + UNREACHABLE["dependencies"]}
    assert decide(report).exit_code == 1


def test_clean() -> None:
    verdict = decide(CLEAN)
    assert (verdict.status, verdict.exit_code) == ("ok", 0)


def fake_pip_audit(tmp_path: Path, body: str) -> str:
    script = tmp_path / "pip-audit"
    script.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    script.chmod(0o755)
    return str(script)


def writes(report: dict[str, object], code: int) -> str:
    # pip-audit is called with `... -f json -o FILE`: FILE is the last argument.
    return (
        f"for a; do out=$a; done\ncat > \"$out\" <<'EOF'\n{json.dumps(report)}\nEOF\nexit {code}\n"
    )


def test_runner_reports_an_unreachable_service_without_failing(tmp_path: Path) -> None:
    tool = fake_pip_audit(
        tmp_path,
        "echo 'requests.exceptions.ConnectionError: Max retries exceeded' >&2\nexit 1\n",
    )
    verdict = run_pip_audit(tool, ["-r", "x.lock"], 10, tmp_path / "r.json")
    assert verdict.status == "not-audited"
    assert verdict.exit_code == 0
    assert "unreachable" in verdict.lines[0]


def test_runner_fails_on_a_reported_vulnerability(tmp_path: Path) -> None:
    tool = fake_pip_audit(tmp_path, writes(VULNERABLE, 1))
    assert run_pip_audit(tool, ["-r", "x.lock"], 10, tmp_path / "r.json").exit_code == 1


def test_runner_fails_on_any_other_error(tmp_path: Path) -> None:
    tool = fake_pip_audit(tmp_path, "echo 'Invalid requirement: ???' >&2\nexit 1\n")
    verdict = run_pip_audit(tool, ["-r", "x.lock"], 10, tmp_path / "r.json")
    assert verdict.status == "error"
    assert verdict.exit_code == 2


def test_runner_gives_up_after_its_timeout(tmp_path: Path) -> None:
    tool = fake_pip_audit(tmp_path, "sleep 5\n")
    verdict = run_pip_audit(tool, ["-r", "x.lock"], 0.5, tmp_path / "r.json")
    assert verdict.status == "not-audited"


@pytest.mark.parametrize(("report", "code"), [(VULNERABLE, 1), (UNREACHABLE, 0), (CLEAN, 0)])
def test_cli_on_a_saved_report(tmp_path: Path, report: dict[str, object], code: int) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    assert main(["--from-json", str(path)]) == code
