"""The program tests/test_distributed.py starts under ``mpiexec``: one rank of a real data-parallel job.

``python mpi_worker.py SPEC_JSON OUT_PREFIX``: trains on :func:`make_data` with ``SPEC["train"]`` as keyword
arguments of :func:`xpnet.train` and writes ``OUT_PREFIX.rankR.npz`` (final weights, per-epoch history, test
figures, how many files xpnet wrote) from every rank. Optional ``SPEC`` keys make a rank misbehave: ``"fail"``
(raise, SIGKILL itself, be interrupted or hang after an epoch), ``"rank_data"`` (each rank draws other data), ``"rank_model"``
(each rank passes ``model=`` initialised from its own seed), ``"stop_after_checkpoint"`` (rank 0 prints READY after
its first mid-epoch checkpoint of epoch 2 and waits to be killed), ``"rank0"`` (settings given on rank 0 only).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

import xpnet


def make_data(n: int, features: int = 12, classes: int = 3, seed: int = 0) -> tuple[tuple, tuple]:
    """A learnable data set with a test split: labels from a random linear teacher."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + 200, features))
    y = np.argmax(x @ rng.normal(size=(features, classes)), axis=1)
    return (x[:n], y[:n]), (x[n:], y[n:])


def main() -> None:
    spec, prefix = json.loads(sys.argv[1]), sys.argv[2]
    settings = dict(spec["train"])
    rank = 0
    if settings.get("distributed", "auto") is not False:
        from mpi4py import MPI

        rank = MPI.COMM_WORLD.Get_rank()
    data = make_data(spec["n"], seed=rank if spec.get("rank_data") else 0)
    for key, value in spec.get("rank0", {}).items():  # settings given on rank 0 only
        if rank == 0:
            settings[key] = {"progress": True, "checkpoint_every": 7, "early_stopping": 2, "verbose": 1}.get(key, value)
        elif key == "validation":
            settings[key] = value
    if spec.get("rank_model"):
        hidden = tuple(settings.pop("hidden"))
        settings["model"] = xpnet.MLP((12, *hidden, 3), device=settings.pop("device"), dtype=settings.pop("dtype"),
                                      seed=rank)  # fmt: skip
    callbacks = []
    fail = spec.get("fail")
    if fail is not None:

        def misbehave(record, model):
            if rank == fail["rank"] and record["epoch"] == fail["epoch"]:
                if fail["how"] == "raise":
                    raise RuntimeError("disk on fire")
                if fail["how"] == "kill":
                    os.kill(os.getpid(), 9)
                if fail["how"] == "interrupt":  # as a Ctrl-C that reaches this rank alone
                    raise KeyboardInterrupt
                time.sleep(600)  # "hang"

        callbacks.append(misbehave)
    if spec.get("stop_after_checkpoint"):
        train_module = sys.modules["xpnet.training.loop"]
        original = train_module.save_checkpoint

        def save_then_wait(*args, **kwargs):
            path = original(*args, **kwargs)
            where = kwargs["where"]
            if where.epoch == 2 and where.position > 0:
                print("READY", where.epoch, where.position, flush=True)
                time.sleep(600)
            return path

        train_module.save_checkpoint = save_then_wait
    written = []  # xpnet's atomic writes end in os.replace: which files did this rank write?
    replace = os.replace
    os.replace = lambda src, dst, *a, **k: (written.append(str(dst)), replace(src, dst, *a, **k))[1]
    result = xpnet.train(data, callbacks=callbacks, **{"verbose": 0, **settings})
    os.replace = replace
    history = result.history
    np.savez(
        f"{prefix}.rank{rank}.npz",
        *[xpnet.to_numpy(p) for p in result.model.params],
        train_loss=np.asarray(history["train_loss"]),
        val_loss=np.asarray([np.nan if v is None else v for v in history["val_loss"]]),
        seconds=np.asarray(history["seconds"]),
        files_written=np.asarray(len(written)),
        samples_per_second=np.asarray(history["samples_per_second"]),
        test=np.asarray([result.test.loss, result.test.accuracy, result.test.n]),
        ranks=np.asarray(result.ranks),
    )


if __name__ == "__main__":
    main()
