"""The 11x11 seed network: MNIST compressed 2-fold to 121 inputs, one sigmoid hidden layer, softmax output
(reference: 49.6% after its short run), then what xpnet's defaults reach on the same 121 inputs.

Compression: the 3-pixel border (blank in almost every MNIST digit) is cropped, leaving 22x22, and every 2x2 block
is averaged: 11x11 = 121 inputs in [0, 1]. The seed's exact training settings are not recorded; the short run here
is plain full-batch gradient descent (all 60,000 images per step), 30 sigmoid units, lr 0.5, 16 steps.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import xpnet


def compress(images: np.ndarray) -> np.ndarray:
    """``(n, 784)`` MNIST pixels in [0, 1] -> ``(n, 121)``: crop to the central 22x22, average 2x2 blocks."""
    central = images.reshape(-1, 28, 28)[:, 3:25, 3:25]
    return central.reshape(-1, 11, 2, 11, 2).mean(axis=(2, 4)).reshape(-1, 121).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="device spec: auto, cpu, cuda:0, torch:cpu, ...")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and batch order (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args()
    (x, y), (x_test, y_test) = xpnet.datasets.load_mnist()
    data = ((compress(x), y), (compress(x_test), y_test))
    common = dict(device=args.device, seed=args.seed, progress=not args.no_progress, verbose=0)

    began = time.perf_counter()
    short = xpnet.train(data, hidden=(30,), activation="sigmoid", optimizer="sgd", lr=0.5, batch_size=60_000,
                        epochs=16, l2=0.0, lr_schedule="constant", **common)  # fmt: skip
    seconds = time.perf_counter() - began
    assert short.test is not None
    print("121-30-10, sigmoid hidden layer, softmax output, full-batch gradient descent lr 0.5, 16 steps")
    print(f"  test accuracy {100 * short.test.accuracy:.2f}%   (reference: 49.6%)   {seconds:.1f} s")

    began = time.perf_counter()
    default = xpnet.train(data, **common)
    seconds = time.perf_counter() - began
    assert default.test is not None
    print(
        "xpnet's defaults on the same 121 inputs: 121-512-10 ReLU, momentum 0.9, lr 0.05 cosine, batch 128, 20 epochs"
    )
    print(f"  test accuracy {100 * default.test.accuracy:.2f}%   {seconds:.1f} s, device {default.device}")


if __name__ == "__main__":
    main()
