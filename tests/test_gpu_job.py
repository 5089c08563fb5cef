"""The GPU job script, `.ci/gpu`, in its CPU dry run: every step runs on stand-ins, the log records each, and a
failing step fails the job (so the script cannot rot between the sessions that have a GPU)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STEPS = (
    "environment",
    "devices",
    "gpu-tests",
    "parity-float32",
    "parity-float64",
    "parity-tf32",
    "parity-bf16",
    "benchmark",
    "large-net",
    "kernels-tf32",
    "kernels-bf16",
    "kernels-jax",
    "first-run",
    "launches",
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="a bash script")


def run_job(tmp_path: Path, python: str) -> tuple[subprocess.CompletedProcess[str], str]:
    log = tmp_path / "gpu.log"
    env = os.environ | {"XPNET_GPU_DRY_RUN": "1", "XPNET_GPU_LOG": str(log), "PYTHON": python}
    env.pop("OUT", None)
    done = subprocess.run(["bash", str(ROOT / ".ci" / "gpu")], capture_output=True, text=True, env=env, timeout=600)
    return done, log.read_text()


def test_the_dry_run_passes_every_step(tmp_path):
    done, log = run_job(tmp_path, sys.executable)
    assert done.returncode == 0, log[-3000:]
    for step in STEPS:
        assert f"=== {step}: exit 0 in" in log, step
    assert "=== summary: every step passed" in log
    assert log.count("all devices agree") == 4 and "strict:device1 " in log  # the parity tables
    assert "xpnet (strict:device1)" in log and "pytorch (cpu)" in log  # the benchmark's rows
    assert log.count("xpnet (torch:cpu): ") == 2 and log.count("pytorch (cpu): ") == 3  # kernel_time.py's tables
    assert log.count("µs of device time per step") == 5  # kernels-tf32, -bf16: xpnet and PyTorch; -jax: PyTorch
    assert log.count("ms of wall time per step") == 5 + ("jax not installed" not in log)  # JAX's: wall time only
    assert "xpnet (torch:cpu, graph)  not captured here" in log and "pytorch (cpu) " in log  # launches.py's table
    if "jax not installed" not in log:  # first_run.py: JAX's second process loads every program the first built
        rows = log.split("=== first-run")[1].splitlines()  # the step's command and output
        first, second = (next(re.findall(r"\b(\d+)/(\d+)\b", line)[0] for line in rows if line.startswith(name))
                         for name in ("jax:cpu ", "jax:cpu, 2nd"))  # fmt: skip
        assert int(first[0]) > 5 and first[1] == "0" and second == ("0", first[0]), (first, second)


def test_steps_can_be_chosen_by_name(tmp_path):
    log = tmp_path / "gpu.log"
    env = os.environ | {"XPNET_GPU_DRY_RUN": "1", "XPNET_GPU_LOG": str(log), "XPNET_GPU_STEPS": "environment devices"}
    done = subprocess.run(["bash", str(ROOT / ".ci" / "gpu")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, log.read_text()[-2000:]
    ran = [
        line.split(":")[0][4:] for line in log.read_text().splitlines() if line.startswith("=== ") and " exit " in line
    ]
    assert ran == ["environment", "devices"], ran


def test_a_failing_step_fails_the_job_and_is_named(tmp_path):
    done, log = run_job(tmp_path, "false")  # every Python step exits 1
    assert done.returncode == 1
    assert "=== environment: exit 1 in" in log
    assert "=== summary: environment devices gpu-tests" in log
