"""Data-parallel jobs whose ranks hold GPUs: NCCL, the pinned-host route, CUDA-aware MPI and PyTorch CUDA ranks.

The CuPy tests run on the CuPy stand-in here (two simulated GPUs, NCCL included) and on real GPUs with
``pytest -m gpu``; each job must end where the 1-process CPU run ends.
"""

from __future__ import annotations

import pytest
from mpi_jobs import BASE, MARKS, assert_same_run, job, outputs, reference

import xpnet
from xpnet.testing import cupy_standin

pytestmark = MARKS


# ------------------------------------------------- CuPy ranks: on the stand-in here, on real GPUs with pytest -m gpu
def _gpus() -> int:
    return sum(spec.startswith("cuda:") for spec in xpnet.devices())


@pytest.fixture(
    params=[pytest.param("standin", id="cupy-standin"), pytest.param("real", id="cupy", marks=pytest.mark.gpu)]
)
def cupy_ranks(request):
    """``(environment, GPUs)`` for jobs whose ranks use CuPy: the stand-in's two simulated GPUs, or this machine's."""
    if request.param == "standin":
        if cupy_standin.real_cupy_present():
            pytest.skip("a real CuPy is here: the cupy cell tests it")
        return cupy_standin.child_env(), 2
    if not _gpus():
        pytest.skip("needs CuPy and a CUDA GPU")
    return {}, _gpus()


def _gpu_job(tmp_path, ranks, device, route, env=None, train=None):
    spec = dict(n=1001, train={**BASE, "device": device, "distributed": True, **(train or {})})
    done, _ = job(ranks, spec, tmp_path / "run", env={**(env or {}), **({"XPNET_ALLREDUCE": route} if route else {})})
    assert done.returncode == 0, done.stderr
    ref = reference({**spec, "train": {**spec["train"], "device": "cpu"}})
    assert_same_run(outputs(tmp_path / "run", ranks), ref, 1e-12)
    return done


def test_nccl_one_rank_per_gpu(tmp_path, cupy_ranks):
    env, gpus = cupy_ranks
    ranks = max(min(gpus, 4), 1)
    done = _gpu_job(tmp_path, ranks, "cuda", "nccl", env)
    assert "gradients summed by nccl" in done.stderr
    for r in range(ranks):  # rank r on GPU r of this node
        assert f"{r}=cuda:{r} on" in done.stderr


def test_nccl_takes_the_unique_id_of_cupy_13_too(tmp_path, cupy_ranks):
    env, _ = cupy_ranks
    if not env:
        pytest.skip("the form of the id is the installed CuPy's own: the test above covers it")
    done = _gpu_job(tmp_path, 2, "cuda", "nccl", {**env, "XPNET_STANDIN_NCCL_ID": "tuple"})
    assert "gradients summed by nccl" in done.stderr


def test_pinned_host_route_with_two_ranks_on_one_gpu(tmp_path, cupy_ranks):
    done = _gpu_job(tmp_path, 2, "cuda:0", "host", cupy_ranks[0])
    assert "gradients summed by mpi-pinned-host" in done.stderr


@pytest.mark.gpu
def test_cuda_aware_mpi_when_the_library_has_it(tmp_path):
    from xpnet.backend.reducers import cuda_aware_mpi

    pytest.importorskip("mpi4py.MPI")
    if not cuda_aware_mpi():
        pytest.skip("this MPI library is not CUDA-aware (MPIX_Query_cuda_support returns 0)")
    if not _gpus():
        pytest.skip("needs CuPy and a CUDA GPU")
    done = _gpu_job(tmp_path, 1, "cuda", "cuda-aware-mpi")
    assert "gradients summed by cuda-aware-mpi" in done.stderr


@pytest.mark.gpu
def test_torch_cuda_ranks_staged_through_the_host(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA build of PyTorch and a GPU")
    spec = dict(n=1001, train={**BASE, "device": "torch:cuda", "distributed": True})
    done, _ = job(2, spec, tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert_same_run(
        outputs(tmp_path / "run", 2), reference({**spec, "train": {**spec["train"], "device": "cpu"}}), 1e-12
    )
