"""Running a Markdown file's code blocks as a new user would: in order, in one working copy.

The convention: a block whose info string is ``bash`` or ``sh`` runs in bash
(with ``set -euo pipefail``: any failing command fails the block), ``python``
runs in the Python of the test run, ``text`` only illustrates and is not run.
Any other info string, or none, is an error, so that nothing is left unrun by
accident. Variables a shell block exports stay set for the blocks after it,
as they would in one terminal.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from process_support import free_port, stop_server

# Info string -> the program that runs the block.
RUNNERS = {"bash": "bash", "sh": "bash", "python": "python"}
# Info strings of blocks that show something without running it (keep them rare).
ILLUSTRATIONS = frozenset({"text"})
# A block may take this long (a training run on a loaded machine) before it counts as hung.
BLOCK_TIMEOUT = 600.0
# How long ``vigil serve`` may take to import, migrate and answer /health.
SERVER_START_TIMEOUT = 120.0
# How much of a failed block's output a report shows.
REPORT_LINES = 80

_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([^`\s]*)")


@dataclass(frozen=True)
class CodeBlock:
    """A fenced block of a Markdown file: its info string, its text and its first line."""

    language: str
    code: str
    line: int

    @property
    def runs(self) -> bool:
        """Returns whether the block is run (rather than only shown)."""
        return self.language in RUNNERS

    @property
    def name(self) -> str:
        """Returns a short name for test ids and reports (``line42-bash``)."""
        return f"line{self.line}-{self.language or 'unlabelled'}"


def code_blocks(markdown: str) -> list[CodeBlock]:
    """Returns the fenced code blocks of ``markdown`` in order (``line`` is the opening fence's)."""
    blocks: list[CodeBlock] = []
    opening: tuple[str, str, int] | None = None
    body: list[str] = []
    for number, text in enumerate(markdown.splitlines(), start=1):
        match = _FENCE.match(text)
        if opening is None:
            if match:
                opening = (match.group(1), match.group(2), number)
                body = []
            continue
        fence, language, start = opening
        closing = text.strip()
        if len(closing) >= len(fence) and set(closing) == {fence[0]}:
            blocks.append(CodeBlock(language, "\n".join(body) + "\n", start))
            opening = None
        else:
            body.append(text)
    if opening is not None:
        raise ValueError(f"The code block opened at line {opening[2]} is never closed.")
    return blocks


@dataclass(frozen=True)
class BlockRun:
    """What running one block gave: its exit status and everything it printed."""

    block: CodeBlock
    returncode: int
    output: str
    seconds: float

    def report(self) -> str:
        """Returns the block with line numbers and the end of its output, for a failure."""
        numbered = "\n".join(
            f"{self.block.line + i + 1:5d} | {text}"
            for i, text in enumerate(self.block.code.splitlines())
        )
        lines = self.output.splitlines()
        shown = "\n".join(lines[-REPORT_LINES:])
        cut = f"(last {REPORT_LINES} of {len(lines)} lines)\n" if len(lines) > REPORT_LINES else ""
        return (
            f"The {self.block.language} block at README line {self.block.line} exited with "
            f"{self.returncode} after {self.seconds:.1f} s:\n{numbered}\n--- output ---\n"
            f"{cut}{shown}"
        )


@dataclass
class ReadmeSession:
    """One user's terminal: a working copy, an environment kept from block to block.

    ``env`` starts as given; after each shell block it becomes the environment
    the block ended with (so exported variables carry over).
    """

    workdir: Path
    env: dict[str, str]
    blocks: list[CodeBlock]
    runs: dict[int, BlockRun] = field(default_factory=dict)

    def run_through(self, block: CodeBlock) -> tuple[BlockRun, list[BlockRun]]:
        """Returns the run of ``block`` and the failed runs before it, running what has not run.

        Blocks run once, in file order, whichever test asks first.
        """
        for earlier in self.blocks:
            if earlier.line not in self.runs:
                self.runs[earlier.line] = self._run(earlier)
            if earlier == block:
                break
        failed = [r for line, r in self.runs.items() if line < block.line and r.returncode]
        return self.runs[block.line], failed

    def _run(self, block: CodeBlock) -> BlockRun:
        script = self.workdir.parent / f"readme-{block.name}"
        saved_env = self.workdir.parent / f"readme-{block.name}.env"
        if RUNNERS[block.language] == "python":
            script.write_text(block.code)
            command = [sys.executable, str(script)]
        else:
            # The environment is saved only when every command succeeded.
            script.write_text(
                f"set -euo pipefail\n{block.code}\nenv -0 > {shlex.quote(str(saved_env))}\n"
            )
            command = ["bash", str(script)]
        started = time.monotonic()
        returncode, output = _run_in_own_group(command, self.workdir, self.env)
        if saved_env.exists():
            self.env = _read_env(saved_env.read_bytes())
        return BlockRun(block, returncode, output, time.monotonic() - started)


def _run_in_own_group(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Returns the exit status and output of ``command``; a hung one is ended with its children."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        output += f"\n[killed: still running after {BLOCK_TIMEOUT:g} s]".encode()
    return process.returncode, output.decode(errors="replace")


def _read_env(saved: bytes) -> dict[str, str]:
    """Returns the environment ``env -0`` printed, without what bash sets for itself."""
    env = {}
    for entry in saved.decode().split("\0"):
        name, sep, value = entry.partition("=")
        if sep and name not in ("_", "SHLVL", "OLDPWD", "PWD"):
            env[name] = value
    return env


@contextmanager
def running_server(workdir: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """Yields the URL of a ``vigil serve`` started in ``workdir`` with ``env``, once it is up.

    Its output goes to ``log``; it is stopped with Ctrl-C (SIGINT) afterwards.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["vigil", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(process, url, log)
        yield url
    finally:
        stop_server(process)


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Returns once ``url`` answers /health; fails if the server exits or takes too long."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    pause = threading.Event()
    while True:
        if process.poll() is not None:
            raise AssertionError(f"vigil serve exited with {process.returncode}:\n{log_tail(log)}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"vigil serve did not answer /health:\n{log_tail(log)}")
        pause.wait(0.2)


def log_tail(log: Path, lines: int = 40) -> str:
    """Returns the last ``lines`` lines of a server log."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def user_environment(workdir: Path) -> dict[str, str]:
    """Returns the environment of a user whose virtualenv is active in ``workdir``.

    No VIGIL_* variable of the test run leaks in; VIGIL_HOME is the default
    ``./.vigil`` of the working copy (``make test`` sets it to the repository's).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["VIGIL_HOME"] = str(workdir / ".vigil")
    return env
