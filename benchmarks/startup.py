"""The start-up benchmark: how long a command takes to start, and what a server holds.

- **commands** — wall time of ``vigil --help`` and ``vigil models list --json``
  (median of ``--runs`` runs, each a fresh subprocess of the console script)
  on a temporary VIGIL_HOME holding ``--models`` trained models, and the CPU
  time (user + system) of the same runs, which a busy machine inflates less;
- **server memory** — the resident set (RSS, ``VmRSS`` from /proc, the server
  and its children) of ``vigil serve`` once ``/health`` answers, and again
  after one prediction over HTTP from each of the models (every model then
  loaded in the server's cache).

The models are small isolation forests (``--rows`` rows of ``--features``
numeric columns, default parameters), trained before anything is measured.
Targets (issue 12): each command under 0.5 s; a server at most 200 MiB
(RSS) right after start and 300 MiB with 10 models loaded. The server's
proportional (PSS) and private memory are printed beside its RSS: RSS also
counts the pages of shared libraries (numpy's, LLVM's ...) that every
process mapping them shares.

``--reference REV`` measures the code of git revision REV the same way in
the same run (its ``src`` exported to a temporary folder and put first on
``PYTHONPATH``, its own VIGIL_HOME and models), so the table compares the two
under the same load: the two trees' command runs take turns. Each command
runs once untimed first, with bytecode caching on, so neither side pays for
compiling its modules, and each tree's numba kernels are compiled into its
cache by one prediction after training (an exported tree starts with none, and
compiling in the measured server would count LLVM's working memory). Times
are wall clock on a shared 2-core machine; the load average before and after
is kept with the results in benchmarks/results/startup.json.

    .venv/bin/python benchmarks/startup.py
    .venv/bin/python benchmarks/startup.py --reference 11df70b
    .venv/bin/python benchmarks/startup.py --runs 3 --models 4
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "startup.json"
ROOT = Path(__file__).resolve().parents[1]
VIGIL = Path(sys.executable).with_name("vigil")
ADMIN_KEY = "vk_benchmark_" + "s" * 40
SERVER_START_TIMEOUT = 180.0
MIB = 1024 * 1024
COMMANDS = {"vigil --help": ["--help"], "vigil models list --json": ["models", "list", "--json"]}
# The targets on this 2-core machine.
TARGETS = {
    "vigil --help": ("s", 0.5),
    "vigil models list --json": ("s", 0.5),
    "serve rss after start": ("MiB", 200.0),
    "serve rss with models loaded": ("MiB", 300.0),
}


def train_models(home: Path, count: int, rows: int, features: int) -> tuple[list[str], dict]:
    """Trains ``count`` small isolation forests into ``home``; returns their names and a row."""
    import numpy as np
    import pandas as pd

    from vigil.config import Settings
    from vigil.data.loading import Dataset
    from vigil.security import Caller
    from vigil.service import VigilService
    from vigil.training.trainer import TrainSpec

    service = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    names = [f"startup-{i}" for i in range(count)]
    for seed, name in enumerate(names):
        generator = np.random.default_rng(seed)
        frame = pd.DataFrame(
            generator.normal(size=(rows, features)), columns=[f"x{j}" for j in range(features)]
        )
        dataset = Dataset(frame, f"synthetic-{seed}", "parquet", "synthetic")
        service.training.train(
            Caller(), name, dataset, TrainSpec(task="anomaly", algorithm="isolation_forest")
        )
    row = {f"x{j}": 0.1 * j for j in range(features)}
    # One prediction compiles the tree's numba kernels into its cache (``cache=True``), as a
    # user's first server did: the server measured then loads them, as every later one does.
    service.predictions.predict(Caller(), names[0], [row])
    service.close()
    service.store.engine.dispose()
    return names, row


def train_with(src: Path, home: Path, args: argparse.Namespace) -> tuple[list[str], dict]:
    """Trains the models with the code under ``src``, in a fresh interpreter."""
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--train-only",
            str(home),
            *("--models", str(args.models), "--rows", str(args.rows)),
            *("--features", str(args.features)),
        ],
        env=code_env(src),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"training with {src} failed: {done.stderr[-1000:]}")
    trained = json.loads(done.stdout.strip().splitlines()[-1])
    return trained["names"], trained["row"]


def code_env(src: Path) -> dict[str, str]:
    """Returns this environment with ``src`` first on the import path, bytecode caching on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has its .pyc files
    return env | {"PYTHONPATH": str(src)}


def export_source(revision: str, into: Path) -> Path:
    """Returns the ``src`` folder of git ``revision``, exported under ``into``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "src"], cwd=ROOT, capture_output=True
    )
    if archive.returncode != 0:
        raise SystemExit(f"git archive {revision}: {archive.stderr.decode()[-300:]}")
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def time_commands(envs: dict[str, dict[str, str]], runs: int) -> dict[str, dict[str, Any]]:
    """Returns, per tree and command, the median wall and CPU seconds over ``runs`` fresh
    processes. The trees take turns run by run, so a change of load hits both alike."""
    timed: dict[str, dict[str, Any]] = {tree: {} for tree in envs}
    for label, args in COMMANDS.items():
        print(f"{label} x {runs} per tree ...", flush=True)
        walls: dict[str, list[float]] = {tree: [] for tree in envs}
        cpus: dict[str, list[float]] = {tree: [] for tree in envs}
        for env in envs.values():  # warm-up: bytecode caches and the page cache
            subprocess.run([str(VIGIL), *args], env=env, capture_output=True, cwd=ROOT)
        for _ in range(runs):
            for tree, env in envs.items():
                wall, cpu = _run_once(args, env)
                walls[tree].append(wall)
                cpus[tree].append(cpu)
        for tree in envs:
            timed[tree][label] = {
                "runs": runs,
                "median_s": statistics.median(walls[tree]),
                "min_s": min(walls[tree]),
                "median_cpu_s": statistics.median(cpus[tree]),
            }
    return timed


def _run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Returns the wall and CPU (user + system) seconds of one ``vigil ARGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([str(VIGIL), *args], env=env, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"vigil {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def free_port() -> int:
    """Returns a TCP port free on the loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, bytes]:
    """Sends one request on a fresh connection; returns the status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@contextmanager
def serving(env: dict[str, str], port: int, log: Path) -> Iterator[tuple[int, float]]:
    """Yields the pid of ``vigil serve`` and its start time once ``/health`` answers."""
    started = time.perf_counter()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(VIGIL), "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"vigil serve exited; see {log}")
                try:
                    if request(port, "GET", "/health")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"vigil serve did not start; see {log}")
                time.sleep(0.1)
            yield process.pid, time.perf_counter() - started
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def memory_mib(pid: int) -> dict[str, float]:
    """Returns the resident (RSS), proportional (PSS) and private memory of ``pid`` and its
    children, in MiB (from /proc/PID/smaps_rollup)."""
    total = {"rss": 0, "pss": 0, "private": 0}
    for each in [pid, *_children(pid)]:
        try:
            rollup = Path(f"/proc/{each}/smaps_rollup").read_text()
        except OSError:
            continue
        kib = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", rollup, re.MULTILINE)}
        total["rss"] += kib.get("Rss", 0)
        total["pss"] += kib.get("Pss", 0)
        total["private"] += kib.get("Private_Clean", 0) + kib.get("Private_Dirty", 0)
    return {k: v * 1024 / MIB for k, v in total.items()}


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        listed = task / "children"
        for child in listed.read_text().split() if listed.exists() else []:
            found += [int(child), *_children(int(child))]
    return found


def server_memory(env: dict[str, str], names: list[str], row: dict, work: Path) -> dict:
    """Returns the server's RSS after start and after one prediction from each model."""
    port = free_port()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"}
    body = json.dumps({"instances": [row]}).encode()
    with serving(env, port, work / "serve.log") as (pid, start_s):
        memory: dict[str, Any] = {"start_s": start_s}
        memory |= {f"{k}_mib_started": v for k, v in memory_mib(pid).items()}
        for name in names:
            status, answer = request(port, "POST", f"/v1/models/{name}/predict", body, headers)
            if status != 200:
                raise SystemExit(f"{name} answered {status}: {answer[:300]!r}")
        memory["models_loaded"] = len(names)
        memory |= {f"{k}_mib_models_loaded": v for k, v in memory_mib(pid).items()}
    return memory


def verdict(commands: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    """Returns each figure the issue sets a target for, with the target and whether it is met."""
    figures = {
        **{label: result["median_s"] for label, result in commands.items()},
        "serve rss after start": memory["rss_mib_started"],
        "serve rss with models loaded": memory["rss_mib_models_loaded"],
    }
    return {
        name: {"value": value, "unit": TARGETS[name][0], "target": TARGETS[name][1]}
        | {"met": value <= TARGETS[name][1]}
        for name, value in figures.items()
    }


def main() -> None:
    """Measures this tree (and ``--reference``); prints one table and writes JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command")
    parser.add_argument("--models", type=int, default=10, help="models trained and loaded")
    parser.add_argument("--rows", type=int, default=2_000, help="training rows per model")
    parser.add_argument("--features", type=int, default=8, help="numeric columns per model")
    parser.add_argument("--reference", help="a git revision measured the same way, to compare")
    parser.add_argument("--train-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_only is not None:  # the training step, run with the measured code
        names, row = train_models(args.train_only, args.models, args.rows, args.features)
        print(json.dumps({"names": names, "row": row}))
        return

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="vigil-startup-bench-"))
    trees = {"current": ROOT / "src"}
    results: dict[str, dict[str, Any]] = {}
    try:
        if args.reference:
            trees = {"reference": export_source(args.reference, work / "reference"), **trees}
        envs, models = {}, {}
        for tree, src in trees.items():
            print(f"{tree}: training {args.models} small isolation forests ...", flush=True)
            home = work / tree / "home"
            home.parent.mkdir(parents=True, exist_ok=True)
            models[tree] = train_with(src, home, args)
            envs[tree] = code_env(src) | {"VIGIL_HOME": str(home), "VIGIL_ADMIN_KEY": ADMIN_KEY}
        commands = time_commands(envs, args.runs)
        for tree in trees:
            print(f"{tree}: vigil serve ...", flush=True)
            memory = server_memory(envs[tree], *models[tree], work / tree)
            results[tree] = {
                "commands": commands[tree],
                "server": memory,
                "targets": verdict(commands[tree], memory),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print_table(results)
    report = {
        "benchmark": "startup",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        },
        "settings": vars(args) | {"train_only": None},
        **results["current"],
    }
    if args.reference:
        report["reference"] = {"revision": args.reference, **results["reference"]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """Prints every figure, one column per measured tree; the issue's targets say met or not."""
    columns = list(results)
    lines: list[list[str]] = [["", "", *columns]]

    def row(what: str, figure: str, cell: Any) -> None:
        lines.append([what, figure, *(cell(results[column]) for column in columns)])

    for label in COMMANDS:
        for figure, key in (("median wall", "median_s"), ("min wall", "min_s")):
            row(label, figure, lambda r, k=key, c=label: f"{r['commands'][c][k]:.3f} s")
        row(label, "median CPU", lambda r, c=label: f"{r['commands'][c]['median_cpu_s']:.3f} s")
    row("vigil serve", "start to /health", lambda r: f"{r['server']['start_s']:.2f} s")
    for when, suffix in (("after start", "started"), ("models loaded", "models_loaded")):
        for kind in ("rss", "pss", "private"):
            row(
                "vigil serve",
                f"{kind.upper() if kind != 'private' else 'private'}, {when}",
                lambda r, k=f"{kind}_mib_{suffix}": f"{r['server'][k]:.1f} MiB",
            )
    for name, outcome in results["current"]["targets"].items():
        target = f"<= {outcome['target']:g} {outcome['unit']}"
        row(
            "target",
            f"{name} {target}",
            lambda r, n=name: (
                f"{r['targets'][n]['value']:.3g} "
                + ("met" if r["targets"][n]["met"] else "NOT met")
            ),
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
