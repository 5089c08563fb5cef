"""Shared command line for the examples: ``--device``, ``--epochs`` and ``--seed``, then train and report."""

from __future__ import annotations

import argparse
import time
from typing import Any

import xpnet


def run(description: str, reference: str, *, epochs: int, **train_kwargs: Any) -> xpnet.TrainResult:
    """Parse the common options, train on MNIST and print the test accuracy next to the reference figure."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--device", default="auto", help="device spec: auto, cpu, cuda:0, torch:cpu, strict:device1 ..."
    )
    parser.add_argument("--epochs", type=int, default=epochs, help=f"passes over the training set (default {epochs})")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and batch order (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args()
    start = time.perf_counter()
    result = xpnet.train(
        "mnist", device=args.device, epochs=args.epochs, seed=args.seed, progress=not args.no_progress, **train_kwargs
    )
    assert result.test is not None
    print(f"{description}")
    print(
        f"  device {result.device}, placement {result.placement}, {args.epochs} epochs in {time.perf_counter() - start:.1f} s"
    )
    print(f"  test accuracy {100 * result.test.accuracy:.2f}%   (reference: {reference})")
    return result
