"""pip-audit with an honest verdict (used by `make ci-scans`, tested in test_pip_audit_gate.py).

pip-audit alone is not enough as a CI gate here:
- when its vulnerability service cannot be reached it fails like a finding (a connection error
  is not a vulnerability), and
- when the service answers "not found" for a package (a mirror without the per-version JSON
  API, as on the offline CI machine) it *skips* the package and still prints "No known
  vulnerabilities found" with exit code 0: nothing was checked, yet the run looks clean.

This gate runs pip-audit with JSON output and decides:
- any known vulnerability            -> FAIL (exit 1), each one listed with its fix versions;
- service unreachable, or dependencies that could not be looked up
                                     -> "NOT AUDITED" said loudly, exit 0 (the run goes on);
- every dependency looked up, none vulnerable -> ok, exit 0;
- pip-audit failed for another reason (bad lock file, ...) -> exit 2.

Usage:
  python tests/deploy/pip_audit_gate.py --pip-audit pip-audit \
      [--timeout 300] [--report reports/pip-audit-serve.json] -- -r requirements/serve.lock ...
  python tests/deploy/pip_audit_gate.py --from-json REPORT.json   (decide on an existing report)
The first form is `hatch run scan:audit ...` (pyproject.toml), where pip-audit is on PATH.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# What pip-audit prints (stderr) when its service cannot be reached at all.
_UNREACHABLE = re.compile(
    r"ConnectionError|ConnectTimeout|ReadTimeout|Max retries exceeded|NameResolutionError|"
    r"Failed to resolve|Temporary failure in name resolution|Network is unreachable|"
    r"Connection refused|ProxyError|SSLError|timed out|ServiceError|ConnectionResetError",
    re.IGNORECASE,
)


@dataclass
class Verdict:
    status: str  # "ok" | "vulnerable" | "not-audited" | "error"
    lines: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "not-audited": 0, "vulnerable": 1}.get(self.status, 2)


def decide(report: dict[str, Any], label: str = "") -> Verdict:
    """The verdict for one pip-audit JSON report (`-f json`)."""
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = len(deps) - len(skipped)
    prefix = f"pip-audit {label}: " if label else "pip-audit: "
    if vulnerable:
        lines = [f"{prefix}FAIL: {len(vulnerable)} vulnerable package(s)"]
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
                aliases = ", ".join(vuln.get("aliases") or [])
                lines.append(
                    f"  {dep['name']} {dep.get('version', '?')}: {vuln.get('id')}"
                    f"{f' ({aliases})' if aliases else ''}; fixed in: {fixes}"
                )
        if skipped:
            lines.append(f"  ({len(skipped)} other package(s) could not be looked up)")
        return Verdict("vulnerable", lines)
    if skipped:
        lines = [
            f"{prefix}NOT AUDITED: {len(skipped)} of {len(deps)} package(s) could not be looked "
            "up in the vulnerability data source (unreachable, or a mirror without its API).",
            "  This is NOT a clean result; the full audit runs in GitHub Actions (pip-audit job).",
        ]
        lines += [f"  skipped: {d['name']}: {d['skip_reason']}" for d in skipped[:5]]
        if len(skipped) > 5:
            lines.append(f"  ... and {len(skipped) - 5} more")
        return Verdict("not-audited", lines)
    return Verdict("ok", [f"{prefix}ok: {audited} package(s) audited, no known vulnerability"])


def run_pip_audit(pip_audit: str, args: list[str], timeout: float, report_path: Path) -> Verdict:
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.unlink(missing_ok=True)
    cmd = [pip_audit, *args, "--progress-spinner", "off", "-f", "json", "-o", str(report_path)]
    label = " ".join(a for a in args if not a.startswith("-"))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Verdict(
            "not-audited",
            [
                f"pip-audit {label}: NOT AUDITED: no answer from the vulnerability data source "
                f"within {timeout:.0f} s. This is NOT a clean result."
            ],
        )
    report: dict[str, Any] | None = None
    if report_path.is_file() and report_path.stat().st_size:
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            report = None
    if report is not None:
        return decide(report, label)
    stderr = proc.stderr.strip()
    if _UNREACHABLE.search(stderr):
        last = stderr.splitlines()[-1] if stderr else ""
        return Verdict(
            "not-audited",
            [
                f"pip-audit {label}: NOT AUDITED: the vulnerability data source is unreachable "
                f"({last[:200]}). This is NOT a clean result; the full audit runs in GitHub "
                "Actions.",
            ],
        )
    return Verdict("error", [f"pip-audit {label}: ERROR (exit {proc.returncode}):", stderr[-2000:]])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-audit", default="pip-audit")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--report", type=Path, default=Path("reports/pip-audit.json"))
    parser.add_argument("--from-json", type=Path)
    parser.add_argument("args", nargs="*", help="pip-audit arguments (after --)")
    ns = parser.parse_args(argv)
    if ns.from_json:
        verdict = decide(json.loads(ns.from_json.read_text(encoding="utf-8")), str(ns.from_json))
    else:
        verdict = run_pip_audit(ns.pip_audit, ns.args, ns.timeout, ns.report)
    print("\n".join(verdict.lines))
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
