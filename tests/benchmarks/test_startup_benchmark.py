"""The parts of benchmarks/startup.py that decide its figures: memory read, verdicts, reference."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "startup_benchmark", ROOT / "benchmarks" / "startup.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


startup = _load()


def test_memory_counts_a_process_and_its_children() -> None:
    alone = startup.memory_mib(os.getpid())
    waits = "import sys; print('ready', flush=True); sys.stdin.read()"
    with subprocess.Popen(
        [sys.executable, "-c", waits], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline().strip() == "ready"  # its interpreter is resident
        together = startup.memory_mib(os.getpid())
        own = startup.memory_mib(child.pid)
        child.stdin.close()

    assert alone["rss"] >= alone["pss"] > 0
    assert alone["rss"] >= alone["private"] > 0
    assert own["rss"] > 5.0  # an interpreter holds several MiB
    # The child is counted with its parent (whose own figure moves by far less than that).
    assert together["rss"] > alone["rss"] + own["rss"] / 2


def test_the_verdict_compares_each_figure_with_the_issues_target() -> None:
    commands = {"vigil --help": {"median_s": 0.2}, "vigil models list --json": {"median_s": 0.7}}
    memory = {"rss_mib_started": 90.0, "rss_mib_models_loaded": 380.0}

    verdict = startup.verdict(commands, memory)

    assert {name: outcome["met"] for name, outcome in verdict.items()} == {
        "vigil --help": True,
        "vigil models list --json": False,
        "serve rss after start": True,
        "serve rss with models loaded": False,
    }
    assert verdict["serve rss after start"] | {"met": None} == {
        "value": 90.0,
        "unit": "MiB",
        "target": 200.0,
        "met": None,
    }


def test_the_reference_is_the_revisions_source_tree(tmp_path: Path) -> None:
    source = startup.export_source("HEAD", tmp_path / "reference")

    assert (source / "vigil" / "__init__.py").is_file()
    assert (source / "vigil" / "service.py").read_bytes() == subprocess.run(
        ["git", "show", "HEAD:src/vigil/service.py"], cwd=ROOT, capture_output=True, check=True
    ).stdout
