"""The README works as written: its code blocks run in order as a new user would run them.

Shell blocks (``bash``) and Python blocks (``python``) run one after the other
in a fresh working copy (the repository's ``examples/``, and ``.vigil`` as
VIGIL_HOME) with the virtualenv's commands on PATH, against a real ``vigil
serve`` that this test starts (``make run`` would create a virtualenv, so it
is not run). The only thing the test provides is where that server listens:
``VIGIL_URL``, which the README reads with a default of ``make run``'s
address. ``text`` blocks only illustrate (the ``make`` commands at the top).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from readme_support import (
    ILLUSTRATIONS,
    RUNNERS,
    CodeBlock,
    ReadmeSession,
    code_blocks,
    log_tail,
    running_server,
    user_environment,
)

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCKS = code_blocks(README.read_text())
RUNNABLE = [block for block in BLOCKS if block.runs]
# Blocks that are shown but not run must stay the exception.
MOST_ILLUSTRATIONS = 2


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadmeSession]:
    """Returns a user's terminal in a fresh working copy, with ``vigil serve`` running."""
    workdir = tmp_path_factory.mktemp("readme") / "vigil"
    workdir.mkdir()
    shutil.copytree(ROOT / "examples", workdir / "examples")
    env = user_environment(workdir)
    with running_server(workdir, env, server_log(workdir)) as url:
        yield ReadmeSession(workdir, {**env, "VIGIL_URL": url}, RUNNABLE)


def server_log(workdir: Path) -> Path:
    """Returns where the server of the working copy ``workdir`` writes its log."""
    return workdir.parent / "server.log"


def test_every_block_says_whether_it_runs() -> None:
    unknown = [
        b.name for b in BLOCKS if b.language not in RUNNERS and b.language not in ILLUSTRATIONS
    ]
    assert not unknown, f"label these blocks bash, python or text: {unknown}"
    shown = [b for b in BLOCKS if not b.runs]
    assert len(shown) <= MOST_ILLUSTRATIONS, [b.name for b in shown]
    assert "make run" in BLOCKS[0].code and "make test" in BLOCKS[0].code


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.name for b in RUNNABLE])
def test_block_runs_as_written(block: CodeBlock, session: ReadmeSession) -> None:
    run, failed_before = session.run_through(block)
    if run.returncode == 0:
        return
    earlier = (
        "Blocks before it failed too (lines "
        + ", ".join(str(r.block.line) for r in failed_before)
        + "); this may follow from them.\n"
        if failed_before
        else ""
    )
    server = log_tail(server_log(session.workdir))
    pytest.fail(f"{earlier}{run.report()}\n--- vigil serve log (end) ---\n{server}", pytrace=False)
