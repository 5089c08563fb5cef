"""Every fenced ``python`` block of README.md and docs/*.md runs as written.

A file's blocks run in order in one fresh interpreter (a later block may use an earlier one's names), in an empty
folder. A block right after ``<!-- docs-test: gpu -->`` or ``<!-- docs-test: network -->`` runs only where a GPU or
the network is there (``XPNET_DOCS_NETWORK=1``). One change is made: ``epochs=N`` runs at most 2 epochs (the blocks
show full MNIST runs; what this test checks is that every line runs, and two epochs reach every line an epoch
loop has: the doc tests took 55 s with the full runs, 22 s so).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
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


def test_the_site_builds_with_every_link_whole(tmp_path):
    """`mkdocs build --strict` (mkdocs.yml): a broken link or anchor, or an API page naming something that does not
    exist, fails it. XPNET_REQUIRE_DOCS=1 (CI) makes a missing MkDocs a failure, not a skip."""
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("XPNET_REQUIRE_DOCS") == "1":
            raise AssertionError('XPNET_REQUIRE_DOCS=1 but MkDocs is missing: pip install -e ".[docs]"')
        pytest.skip('needs MkDocs: pip install -e ".[docs]"')
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "training" / "index.html").read_text().count("checkpoint_dir") >= 1


def _documented(name: str) -> list[tuple[str, object]]:
    """The object an API page names and, for a class or module, its public members defined in xpnet."""
    module_name, _, attribute = name.rpartition(".")
    try:
        obj = importlib.import_module(name)
    except ImportError:
        obj = getattr(importlib.import_module(module_name), attribute)
    found = [(name, obj)]
    if inspect.ismodule(obj):
        names = getattr(obj, "__all__", [n for n in vars(obj) if not n.startswith("_")])
        members = [(f"{name}.{n}", getattr(obj, n)) for n in names]
        found += [(n, m) for n, m in members if getattr(m, "__module__", "").startswith("xpnet")
                  and (inspect.isclass(m) or inspect.isfunction(m))]  # fmt: skip
    for owner, cls in list(found):
        if inspect.isclass(cls):
            for attr, member in vars(cls).items():
                if not attr.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                    found.append((f"{owner}.{attr}", member))
    return found


def test_every_object_of_the_api_reference_has_a_docstring():
    """The API reference is generated from docstrings: each object it shows, and each public method and property
    of its classes, has one."""
    names = [n for page in sorted((ROOT / "docs" / "api").glob("*.md"))
             for n in re.findall(r"^::: (\S+)", page.read_text(), re.M)]  # fmt: skip
    assert len(names) > 20
    missing = [n for name in names for n, obj in _documented(name) if not (getattr(obj, "__doc__", None) or "").strip()]
    assert not missing, missing
