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
numeric columns, default parameters), trained in this process before anything
is measured. Targets (issue 12): each command under 0.5 s; a server at most
200 MiB right after start and 300 MiB with 10 models loaded. Times are wall
clock on a shared 2-core machine; the load average before and after is kept
with the results in benchmarks/results/startup.json.

    .venv/bin/python benchmarks/startup.py
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
    service.close()
    service.store.engine.dispose()
    return names, {f"x{j}": 0.1 * j for j in range(features)}


def time_command(args: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    """Returns the median wall and CPU seconds of ``vigil ARGS`` over ``runs`` fresh processes."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([str(VIGIL), *args], env=env, capture_output=True, cwd=ROOT)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"vigil {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return {
        "runs": runs,
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "median_cpu_s": statistics.median(cpus),
    }


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


def rss_mib(pid: int) -> float:
    """Returns the resident memory of ``pid`` and its children, in MiB."""
    total = 0
    for each in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(match.group(1)) * 1024 if match else 0
    return total / MIB


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
        memory: dict[str, Any] = {"start_s": start_s, "rss_mib_started": rss_mib(pid)}
        for name in names:
            status, answer = request(port, "POST", f"/v1/models/{name}/predict", body, headers)
            if status != 200:
                raise SystemExit(f"{name} answered {status}: {answer[:300]!r}")
        memory["models_loaded"] = len(names)
        memory["rss_mib_models_loaded"] = rss_mib(pid)
    return memory


def main() -> None:
    """Trains the models, times the commands, measures the server; prints and writes JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command")
    parser.add_argument("--models", type=int, default=10, help="models trained and loaded")
    parser.add_argument("--rows", type=int, default=2_000, help="training rows per model")
    parser.add_argument("--features", type=int, default=8, help="numeric columns per model")
    args = parser.parse_args()

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="vigil-startup-bench-"))
    try:
        home = work / "home"
        print(f"training {args.models} small isolation forests ...", flush=True)
        names, row = train_models(home, args.models, args.rows, args.features)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        env |= {"VIGIL_HOME": str(home), "VIGIL_ADMIN_KEY": ADMIN_KEY}
        commands = {}
        for label, command in COMMANDS.items():
            print(f"{label} x {args.runs} ...", flush=True)
            commands[label] = time_command(command, env, args.runs)
        print("vigil serve ...", flush=True)
        memory = server_memory(env, names, row, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    figures = {
        **{label: result["median_s"] for label, result in commands.items()},
        "serve rss after start": memory["rss_mib_started"],
        "serve rss with models loaded": memory["rss_mib_models_loaded"],
    }
    verdict = {
        name: {"value": value, "unit": TARGETS[name][0], "target": TARGETS[name][1]}
        | {"met": value <= TARGETS[name][1]}
        for name, value in figures.items()
    }
    print_table(commands, memory, verdict)
    report = {
        "benchmark": "startup",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        },
        "settings": vars(args),
        "commands": commands,
        "server": memory,
        "targets": verdict,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


def print_table(commands: dict, memory: dict, verdict: dict) -> None:
    """Prints every figure as one table; the issue's targets say met or not."""
    lines: list[tuple[str, str, str]] = []
    for label, result in commands.items():
        lines.append((label, "median wall", f"{result['median_s']:.3f} s"))
        lines.append((label, "min wall", f"{result['min_s']:.3f} s"))
        lines.append((label, "median CPU", f"{result['median_cpu_s']:.3f} s"))
    lines.append(("vigil serve", "start to /health", f"{memory['start_s']:.2f} s"))
    lines.append(("vigil serve", "RSS after start", f"{memory['rss_mib_started']:.1f} MiB"))
    lines.append(
        (
            "vigil serve",
            f"RSS, {memory['models_loaded']} models loaded",
            f"{memory['rss_mib_models_loaded']:.1f} MiB",
        )
    )
    for name, outcome in verdict.items():
        met = "met" if outcome["met"] else "NOT met"
        target = f"<= {outcome['target']:g} {outcome['unit']}"
        lines.append(("target", name, f"{outcome['value']:.3g} {outcome['unit']} {target}: {met}"))
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
