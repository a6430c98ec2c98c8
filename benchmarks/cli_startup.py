"""CLI startup: how long ``scorekit --help`` and ``scorekit plugins`` take, and whether they import torch.

What it measures
    1. Wall time of ``scorekit --help`` and ``scorekit plugins`` run as subprocesses (the installed
       console script next to this interpreter, so a version-manager shim such as pyenv's is not
       timed; if ``scorekit`` on PATH is a different file, it is timed too, for information), median
       of 7 runs after one untimed warm-up run each. The runs alternate between the commands.
    2. Whether torch (or any ``torch.*`` module) is imported by plugin discovery
       (``import scorekit.cli; load_registry()``) and by each of the two commands, read from
       ``python -X importtime`` in a fresh subprocess; numpy is reported too, for information.
       The self-reported import time of ``scorekit.cli`` (cumulative, µs) is printed alongside.

Target
    each command returns in under 1 s, and no torch import at plugin discovery (nor in the two
    commands).

Run ``python benchmarks/cli_startup.py`` (a few seconds); ``--repeats N`` to change the count.
Writes ``benchmarks/results/cli_startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

NAME = "cli_startup"
RESULTS = Path(__file__).resolve().parent / "results"
TARGET_SECONDS = 1.0
COMMANDS = {"--help": ["--help"], "plugins": ["plugins"]}
DISCOVERY = "import scorekit.cli; from scorekit._registry import load_registry; load_registry()"


def console_script() -> Path:
    here = Path(sys.executable).parent / ("scorekit.exe" if os.name == "nt" else "scorekit")
    if here.is_file():
        return here
    found = shutil.which("scorekit")
    if found is None:
        sys.exit("no 'scorekit' console script found; is scorekit installed in this interpreter?")
    return Path(found)


def run_quiet(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def time_commands(executable: Path, repeats: int) -> dict[str, list[float]]:
    for args in COMMANDS.values():  # warm-up: file cache, .pyc files
        run_quiet([str(executable), *args])
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    names = list(COMMANDS)
    for repeat in range(repeats):
        for name in names[repeat % 2 :] + names[: repeat % 2]:
            times[name].append(run_quiet([str(executable), *COMMANDS[name]]))
    return times


def imported_modules(argv: list[str]) -> dict[str, Any]:
    """Modules a fresh interpreter imports for ``argv`` (after ``python -X importtime``)."""
    completed = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, check=False)
    modules: dict[str, int] = {}
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        try:
            modules[name.strip()] = int(cumulative.strip())
        except ValueError:  # the header line
            continue
    torch_modules = sorted(m for m in modules if m == "torch" or m.startswith("torch."))
    return {
        "returncode": completed.returncode,
        "torch_imported": bool(torch_modules),
        "torch_modules": torch_modules[:10],
        "numpy_imported": "numpy" in modules,
        "num_modules": len(modules),
        "scorekit_cli_import_us": modules.get("scorekit.cli"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per command (default 7)")
    args = parser.parse_args()

    executable = console_script()
    times = time_commands(executable, args.repeats)
    on_path = shutil.which("scorekit")
    path_times = None
    if on_path is not None and Path(on_path).resolve() != executable.resolve():
        path_times = time_commands(Path(on_path), args.repeats)

    checks = {
        "discovery": imported_modules(["-c", DISCOVERY]),
        "scorekit --help": imported_modules(["-m", "scorekit", "--help"]),
        "scorekit plugins": imported_modules(["-m", "scorekit", "plugins"]),
    }

    medians = {name: statistics.median(v) for name, v in times.items()}
    time_ok = all(m < TARGET_SECONDS for m in medians.values())
    torch_ok = not any(c["torch_imported"] for c in checks.values())
    failed = [name for name, c in checks.items() if c["returncode"] != 0]

    print(f"CLI startup ({executable}, median of {args.repeats} after a warm-up run)")
    print(f"  {'command':<22}{'median s':>10}{'min s':>9}{'max s':>9}  target < {TARGET_SECONDS:g} s")
    for name, values in times.items():
        verdict = "PASS" if medians[name] < TARGET_SECONDS else "FAIL"
        print(f"  scorekit {name:<13}{medians[name]:>10.3f}{min(values):>9.3f}{max(values):>9.3f}  {verdict}")
    if path_times is not None:
        print(f"  (for information, through {on_path} on PATH:")
        for name, values in path_times.items():
            print(f"   scorekit {name:<12}{statistics.median(values):>10.3f} s median)")
    print("\nimports (python -X importtime, fresh interpreter)")
    print(f"  {'what':<20}{'torch':>7}{'numpy':>7}{'modules':>9}{'scorekit.cli µs':>17}")
    for name, c in checks.items():
        cli_us = c["scorekit_cli_import_us"]
        print(
            f"  {name:<20}{'yes' if c['torch_imported'] else 'no':>7}{'yes' if c['numpy_imported'] else 'no':>7}"
            f"{c['num_modules']:>9}{cli_us if cli_us is not None else '-':>17}"
        )
    if failed:
        print(f"  warning: non-zero exit status from: {', '.join(failed)}")
    print(f"\ncommands under {TARGET_SECONDS:g} s: {'PASS' if time_ok else 'FAIL'}")
    print(f"no torch import at plugin discovery, --help or plugins: {'PASS' if torch_ok else 'FAIL'}")

    result = {
        "benchmark": NAME,
        "executable": str(executable),
        "repeats": args.repeats,
        "target_seconds": TARGET_SECONDS,
        "seconds": times,
        "median_seconds": medians,
        "path_executable": on_path if path_times is not None else None,
        "path_median_seconds": {n: statistics.median(v) for n, v in path_times.items()} if path_times else None,
        "imports": checks,
        "time_pass": time_ok,
        "no_torch_pass": torch_ok,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{NAME}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
