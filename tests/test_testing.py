"""xpnet.testing: parity across backends, gradient checks, assert_close, and the xp_device pytest plugin."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet import cli
from xpnet.testing import assert_close, check_grads, compare_backends

pytest_plugins = ["pytester"]
CPU_DEVICES = ["cpu", "strict", "strict:device1", "torch:cpu"]


def _available(specs):
    return [s for s in specs if not s.startswith("torch") or _has_torch()]


def _has_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def test_cpu_backends_agree_to_1e_10_in_float64_over_100_steps():
    report = compare_backends(_available(CPU_DEVICES), steps=100, dtype="float64")
    assert report.ok, report.table()
    assert report.devices[0].verdict == "reference" and len(report.devices) == len(_available(CPU_DEVICES))
    for d in report.devices:
        assert len(d.loss_diff) == len(d.param_diff) == len(d.per_param_diff) == 100
        assert all(len(row) == 4 and max(row) == m for row, m in zip(d.per_param_diff, d.param_diff))
        assert d.max_diff <= 1e-10 and d.first_divergence is None


@pytest.fixture
def noisy_matmul_on_device1(monkeypatch):
    """array-api-strict's device1 with a matmul that adds relative noise of 1e-6: a deliberately wrong backend."""
    strict = pytest.importorskip("array_api_strict")
    from array_api_strict._array_object import Array

    original = Array.__matmul__
    noise = np.random.default_rng(0)

    def noisy(self, other):
        out = original(self, other)
        if self.device == strict.Device("device1"):
            factor = strict.asarray(1.0 + 1e-6 * noise.standard_normal(out.shape), dtype=out.dtype, device=out.device)
            out = out * factor
        return out

    monkeypatch.setattr(Array, "__matmul__", noisy)


def test_a_perturbed_backend_is_reported(noisy_matmul_on_device1):
    report = compare_backends(["cpu", "strict", "strict:device1"], steps=20, dtype="float64")
    verdicts = {d.device: d.verdict for d in report.devices}
    assert verdicts == {"cpu": "reference", "strict:CPU_DEVICE": "agrees", "strict:device1": "DISAGREES"}
    assert not report.ok
    bad = report.devices[2]
    assert bad.first_divergence == 1 and bad.max_diff > 1e-10
    assert "DISAGREES" in report.table()


def test_parity_command_exits_nonzero_on_disagreement(noisy_matmul_on_device1, capsys, tmp_path):
    out = tmp_path / "parity.json"
    status = cli.main(
        ["parity", "--devices", "cpu,strict:device1", "--steps", "5", "--dtype", "float64", "--json", str(out)]
    )
    printed = capsys.readouterr().out
    assert status == 1 and "DISAGREES" in printed and "DISAGREEMENT" in printed
    data = json.loads(out.read_text())
    assert data["ok"] is False and len(data["devices"][1]["param_diff"]) == 5


def test_parity_command_prints_the_table():
    done = subprocess.run(
        [sys.executable, "-m", "xpnet", "parity", "--devices", "cpu,strict:device1", "--steps", "10"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "reference: cpu (float32, 10 steps" in done.stdout
    assert "strict:device1" in done.stdout and "agrees" in done.stdout and "all devices agree" in done.stdout


def test_parity_command_compares_the_network_it_is_asked_for(monkeypatch, capsys, tmp_path):
    from xpnet.testing import parity

    seen = {}
    real = parity.compare_backends

    def spy(devices, **options):
        seen.update(options)
        return real(devices, **options)

    monkeypatch.setattr(parity, "compare_backends", spy)
    out = tmp_path / "parity.json"
    argv = ["parity", "--devices", "cpu,strict:device1", "--steps", "3", "--activation", "TANH", "--optimizer", "adam"]
    status = cli.main([*argv, "--dropout", "0.2", "--norm", "layer", "--json", str(out)])
    assert status == 0, capsys.readouterr().out
    assert {k: seen[k] for k in ("activation", "optimizer", "dropout", "norm", "steps")} == {
        "activation": "tanh", "optimizer": "adam", "dropout": 0.2, "norm": "layer", "steps": 3,
    }  # fmt: skip
    rows = json.loads(out.read_text())["devices"][1]["per_param_diff"]
    assert len(rows) == 3 and all(len(row) == 6 for row in rows)  # W, b, the layer norm's scale and shift, W, b


@pytest.mark.parametrize("named", ["cpu,CPU", "cpu,numpy", "strict:device1,strict:DEVICE1,cpu"])
def test_parity_refuses_a_device_named_twice(named, capsys):
    assert cli.main(["parity", "--devices", named, "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "--devices: " in err and "name the same device" in err and "always agrees with itself" in err


def test_check_grads_passes_a_correct_model_and_catches_a_wrong_gradient(monkeypatch):
    rng = np.random.default_rng(0)
    net = xpnet.MLP((5, 7, 3), activation="tanh", device="strict:device1", seed=0)  # float32 on a device
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    result = check_grads(net, x, y, l2=0.01)
    assert result.passed and result.max_relative_error < 1e-8 and len(result.per_parameter) == 4
    from xpnet.nn import activations

    table = dict(activations.ACTIVATIONS)
    table["tanh"] = (activations.tanh, lambda z, a: 1.0 - 0.9 * a * a)  # wrong derivative
    monkeypatch.setattr(activations, "ACTIVATIONS", table)
    wrong = xpnet.MLP((5, 7, 3), activation="tanh", device="cpu", seed=0)
    bad = check_grads(wrong, x, y)
    assert not bad.passed and not bad and bad.per_parameter[0] > 1e-3


def test_assert_close_across_backends_and_dtypes():
    strict = pytest.importorskip("array_api_strict")
    a = strict.asarray([1.0, 2.0, 3.0], dtype=strict.float32, device=strict.Device("device1"))
    assert_close(a, np.array([1.0, 2.0, 3.0], dtype=np.float32))
    assert_close(a, np.array([1.0, 2.0, 3.000001], dtype=np.float32))  # within float32 defaults
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        assert_close(a, np.array([1.0, 2.0, 3.001], dtype=np.float32))
    with pytest.raises(AssertionError, match="dtypes differ"):
        assert_close(a, np.array([1.0, 2.0, 3.0]))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close(a, np.array([1.0, 2.0], dtype=np.float32))
    with pytest.raises(AssertionError):
        assert_close(np.array([1.0]), np.array([1.0 + 1e-9]))  # float64 default rtol 1e-10
    assert_close(np.array([1.0]), [1.0])


def test_the_xp_device_fixture_in_a_users_suite(pytester, monkeypatch):
    monkeypatch.setenv("XPNET_BACKENDS", "numpy,strict-device1")
    pytester.makepyfile(
        """
        import numpy as np
        import xpnet

        def test_model_runs_on_each_device(xp_device):
            net = xp_device.mlp((3, 2), seed=0)
            out = net(xp_device.asarray(np.ones((4, 3))))
            assert xpnet.backend.backend_of(out).spec == xp_device.spec
            assert out.dtype == xp_device.dtype
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*numpy-float64*PASSED*", "*numpy-float32*PASSED*", "*strict-device1-float32*PASSED*"])
    monkeypatch.setenv("XPNET_BACKENDS", "numpy-float64,cupy")
    gpu_only = pytester.runpytest("-m", "gpu", "-rs")
    cupy_missing = "cupy" not in xpnet.devices() and not any(d.startswith("cuda") for d in xpnet.devices())
    gpu_only.assert_outcomes(deselected=1, **({"skipped": 2} if cupy_missing else {"passed": 2}))
