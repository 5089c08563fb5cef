"""Every fenced ``python`` block of README.md and docs/*.md runs as written.

A file's blocks run in order in one fresh interpreter (a later block may use an earlier one's names), in an empty
folder. A block right after ``<!-- docs-test: gpu -->`` or ``<!-- docs-test: network -->`` runs only where a GPU or
the network is there (``XPNET_DOCS_NETWORK=1``). One change is made: ``epochs=N`` runs at most 2 epochs (the blocks
show full MNIST runs; what this test checks is that every line runs, and two epochs reach every line an epoch
loop has: the doc tests took 55 s with the full runs, 22 s so).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- docs-test: (\w+) -->\s*\n)?```python\n(.*?)```", re.DOTALL)
EPOCHS = re.compile(r"\bepochs=(\d+)")


def shortened(code: str) -> str:
    return EPOCHS.sub(lambda m: f"epochs={min(int(m.group(1)), 2)}", code)


def blocks(path: Path) -> list[tuple[str | None, str]]:
    return [(match.group(1), match.group(2)) for match in BLOCK.finditer(path.read_text())]


def _gpu() -> bool:
    import xpnet

    return any(spec.startswith(("cuda:", "torch:cuda")) for spec in xpnet.devices())


@pytest.mark.parametrize("path", [p for p in FILES if blocks(p)], ids=lambda p: p.name)
def test_python_blocks_run(path: Path, tmp_path: Path) -> None:
    runnable = []
    for need, code in blocks(path):
        if need == "gpu" and not _gpu():
            continue
        if need == "network" and os.environ.get("XPNET_DOCS_NETWORK") != "1":
            continue
        runnable.append(shortened(code))
    if not runnable:
        pytest.skip(f"every block of {path.name} needs a GPU or the network")
    script = tmp_path / "blocks.py"
    script.write_text("\n\n".join(runnable))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, f"{path.name}:\n{done.stderr[-3000:]}"


def test_only_the_epoch_counts_are_shortened() -> None:
    code = "xpnet.train(x, epochs=20, max_epochs=7)\nxpnet.train(x, epochs=1)"
    assert shortened(code) == "xpnet.train(x, epochs=2, max_epochs=7)\nxpnet.train(x, epochs=1)"


def test_blocks_are_found() -> None:
    found = {path.name: len(blocks(path)) for path in FILES}
    assert found["README.md"] >= 1 and found["training.md"] >= 2 and found["own-data.md"] >= 1
