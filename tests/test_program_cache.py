"""JAX's compiled programs kept on disk (xpnet.backend.program_cache): a later process loads what an earlier one
compiled; the user's own JAX settings win; the library never changes JAX's settings by itself, the CLI does.

Everything that sets JAX's cache runs in a subprocess: the setting is global to a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xpnet.backend import program_cache
from xpnet.io.cache import CACHE_DIR_ENV, cache_root

jax = pytest.importorskip("jax")
needs_sound_cache = pytest.mark.skipif(jax.__version_info__ < program_cache.SOUND_FROM, reason="JAX before 0.6 keeps "
                                       "nothing (its cache's programs computed garbage)")  # fmt: skip

TRAIN = """
import collections, json, sys, jax, jax.monitoring, numpy as np, xpnet
from xpnet.backend.program_cache import use_program_cache
events = collections.Counter()
jax.monitoring.register_event_duration_secs_listener(lambda event, seconds, **kw: events.update([event]))
kept = use_program_cache(sys.argv[1]) if sys.argv[1] != "-" else None
rng = np.random.default_rng(0)
x, y = rng.normal(size=(300, 6)).astype(np.float32), rng.integers(0, 3, 300)
xpnet.train((x, y), device="jax:cpu", hidden=(8,), epochs=2, batch_size=64, progress=False, verbose=0)
config = jax.config
print(json.dumps({"kept": None if kept is None else str(kept), "dir": config.jax_compilation_cache_dir,
                  "min_seconds": config.jax_persistent_cache_min_compile_time_secs,
                  "max_size": config.jax_compilation_cache_max_size,
                  "compiled": events["/jax/core/compile/backend_compile_duration"],
                  "loaded": events["/jax/compilation_cache/cache_retrieval_time_sec"]}))
"""


def run(argument: str, **env: str) -> dict:
    import json

    environment = {k: v for k, v in os.environ.items() if not k.startswith("JAX_") or k == "JAX_PLATFORMS"}
    done = subprocess.run([sys.executable, "-c", TRAIN, argument], capture_output=True, text=True, timeout=300,
                          env=environment | env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_sound_cache
def test_a_second_process_loads_the_programs_the_first_compiled(tmp_path):
    folder = tmp_path / "programs"
    first, second = run(str(folder)), run(str(folder))
    assert first["kept"] == first["dir"] == str(folder) and first["min_seconds"] == 0
    assert first["max_size"] == program_cache.SIZE_LIMIT  # a limit: JAX then reads and writes under a file lock
    assert first["compiled"] >= 3 and first["loaded"] == 0  # xpnet's programs compile in well under JAX's 1 s
    assert len(list(folder.glob("*-cache"))) >= first["compiled"]
    assert second["loaded"] == second["compiled"] == first["compiled"]  # every program loaded, none compiled anew


def test_the_library_leaves_jax_settings_alone(tmp_path):
    plain = run("-")  # xpnet.train on JAX without use_program_cache
    assert plain["dir"] is None and plain["min_seconds"] == 1.0 and plain["loaded"] == 0


@needs_sound_cache
def test_settings_the_user_gave_jax_are_kept(tmp_path):
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    given = run(str(ours), JAX_COMPILATION_CACHE_DIR=str(theirs))
    assert given["kept"] == given["dir"] == str(theirs) and given["min_seconds"] == 1.0  # JAX's threshold untouched
    assert not ours.exists()
    threshold = run(str(ours), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="5", JAX_COMPILATION_CACHE_MAX_SIZE="4096")
    assert threshold["kept"] == str(ours) and threshold["min_seconds"] == 5.0 and threshold["loaded"] == 0
    assert threshold["max_size"] == 4096
    off = run(str(tmp_path / "off"), JAX_ENABLE_COMPILATION_CACHE="false")
    assert off["kept"] is None and off["dir"] is None and not (tmp_path / "off").exists()


UPDATED = """
import sys, jax
from xpnet.backend import use_program_cache
jax.config.update("jax_persistent_cache_min_compile_time_secs", 5.0)
jax.config.update("jax_compilation_cache_max_size", 4096)
kept = use_program_cache(sys.argv[1])
print(kept, jax.config.jax_persistent_cache_min_compile_time_secs, jax.config.jax_compilation_cache_max_size)
"""


@needs_sound_cache
def test_settings_made_by_jax_config_update_are_kept(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_") or k == "JAX_PLATFORMS"}
    done = subprocess.run([sys.executable, "-c", UPDATED, str(tmp_path / "p")], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "p"), "5.0", "4096"]


def test_a_jax_whose_cache_gave_wrong_programs_keeps_nothing(tmp_path, monkeypatch):
    if jax.config.jax_compilation_cache_dir is not None:
        pytest.skip("JAX_COMPILATION_CACHE_DIR is set for this test session")
    monkeypatch.setattr(jax, "__version_info__", (0, 5, 3))
    assert program_cache.use_program_cache(tmp_path / "programs") is None
    assert jax.config.jax_compilation_cache_dir is None and not (tmp_path / "programs").exists()


def test_nothing_changes_where_no_folder_can_be_had(tmp_path, monkeypatch):
    import jax

    if jax.config.jax_compilation_cache_dir is not None:
        pytest.skip("JAX_COMPILATION_CACHE_DIR is set for this test session")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert program_cache.use_program_cache(blocker / "programs") is None  # cannot be made: under a file
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # not installed
    assert cache_root() is None and program_cache.use_program_cache() is None
    monkeypatch.setitem(sys.modules, "jax", None)
    assert program_cache.use_program_cache(tmp_path / "programs") is None
    assert jax.config.jax_compilation_cache_dir is None and not (tmp_path / "programs").exists()


def test_cache_root_is_the_environment_variable_else_the_user_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv(CACHE_DIR_ENV)
    platformdirs = pytest.importorskip("platformdirs")
    assert cache_root() == Path(platformdirs.user_cache_dir("xpnet"))


CLI = """
import collections, sys, jax.monitoring
from xpnet.cli import main
events = collections.Counter()
jax.monitoring.register_event_duration_secs_listener(lambda event, seconds, **kw: events.update([event]))
code = main(sys.argv[1:])
print("loaded", events["/jax/compilation_cache/cache_retrieval_time_sec"])
sys.exit(code)
"""


@needs_sound_cache
@pytest.mark.parametrize("device", ["jax:cpu", "cpu"])
def test_the_command_line_keeps_jax_programs_in_the_cache_folder(tmp_path, device):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_") or k == "JAX_PLATFORMS"}
    env[CACHE_DIR_ENV] = str(tmp_path / "cache")
    args = ["train", "--limit", "500", "--epochs", "1", "--hidden", "16", "--device", device, "--no-progress"]
    outputs = []
    for i in range(2):
        done = subprocess.run([sys.executable, "-c", CLI, *args, "--out", str(tmp_path / f"run{i}")],
                              capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    folder = tmp_path / "cache" / program_cache.FOLDER
    if device == "cpu":
        assert not folder.exists() and "compiled programs" not in outputs[0]
        return
    assert f"compiled programs kept in {folder}" in outputs[0]
    assert "loaded 0" in outputs[0] and int(outputs[1].split("loaded ")[-1].split()[0]) > 5
    assert any(folder.glob("*-cache"))
