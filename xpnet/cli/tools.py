"""``xpnet devices``, ``xpnet parity`` and ``xpnet plot``."""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import devices, resolve, unavailable
from ..data.sources import NAMED, load_data
from ..errors import DataIntegrityError, DataNotFoundError, XPNetError, XPNetValueError
from ..io.atomic import atomic_open
from ..training import report
from ..training.history import History


def devices_command(args: argparse.Namespace) -> None:
    for spec in devices():
        print(report.device_line(spec, resolve(spec).name))
    missing = unavailable()
    if missing:
        print("\nnot available here:")
        for name, why in missing.items():
            print(report.device_line(name, why))


def _network(args: argparse.Namespace) -> dict[str, Any]:
    """What ``xpnet parity`` trains: its options, named as :func:`~xpnet.testing.compare_backends` takes them."""
    names = ("steps", "dtype", "seed", "activation", "optimizer", "dropout", "norm")
    return {name: getattr(args, name) for name in names}


def _refuse_repeats(specs: list[str]) -> None:
    """A device named twice (``cpu,CPU``, ``cpu,numpy``) would "agree" with itself: refuse it."""
    seen: dict[str, str] = {}
    for spec in specs:
        try:
            key = resolve(spec).spec
        except XPNetError:  # not usable here: compare_backends reports it as skipped
            key = spec.strip().lower()
        if key in seen:
            raise XPNetValueError(
                f"--devices: {seen[key]!r} and {spec!r} name the same device ({key}); a device always agrees with "
                f"itself: name two different devices; received {specs}"
            )
        seen[key] = spec


def parity_command(args: argparse.Namespace) -> int:
    from ..testing.parity import compare_backends
    from ..testing.rank_parity import compare_ranks

    if args.ranks:
        if args.precision != "highest":
            raise XPNetValueError(
                f"--precision: --ranks compares at the highest precision; received {args.precision!r}"
            )
        if args.devices and len(args.devices) > 1:
            raise XPNetValueError(f"--devices: --ranks compares runs on one device; received {args.devices}")
        device = args.devices[0] if args.devices else "cpu"
        result = compare_ranks(args.ranks, device=device, **_network(args))
    else:
        specs = args.devices if args.devices is not None else devices()
        if len(specs) < 2:
            raise XPNetValueError(f"--devices: parity compares at least two devices; received {specs}")
        _refuse_repeats(specs)
        result = compare_backends(specs, **_network(args), precision=args.precision)
    print(result.table())
    if args.json:
        with atomic_open(args.json, "w") as f:
            json.dump(result.to_dict(), f, indent=2)
        print(f"wrote {args.json}")
    ran = [d.device for d in result.devices if d.loss_diff]
    if len(ran) < 2 and args.ranks:  # a rank job failed: say what failed, not a guess about backends
        failed = [f"{d.device}: {d.verdict.removeprefix('skipped: ')}" for d in result.devices if not d.loss_diff]
        raise XPNetValueError("parity: " + "; ".join(failed or ["no run could be compared"]))
    refused = [d for d in result.devices if not d.loss_diff and d.verdict.startswith("skipped: precision:")]
    who = f"only {ran[0]}" if ran else "no device"
    if len(ran) < 2 and refused:  # the backends are there; the precision is what they lack
        raise XPNetValueError(
            f"--precision: {who} could run at {args.precision}, so nothing was "
            f"compared: {', '.join(d.device for d in refused)} lack it "
            f"({refused[0].verdict.removeprefix('skipped: precision: ')}); name devices that have it with --devices"
        )
    if len(ran) < 2:
        raise XPNetValueError(
            f"parity: {who} could run, so nothing was compared; install a second backend "
            '(pip install "xpnet[torch]" or "xpnet[strict]") or name two usable devices with --devices'
        )
    what = "runs" if args.ranks else "devices"
    print(
        f"all {what} agree" if result.ok else f"DISAGREEMENT: at least one of the {what} differs beyond the tolerance"
    )
    return 0 if result.ok else 1


def _load_history(path: Path) -> History:
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise DataNotFoundError(f"{path}: {what}; expected a history.json written by xpnet train (or its run folder)")
    try:
        return History.load(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataIntegrityError(f"{path}: not a history file written by xpnet ({type(exc).__name__}: {exc})") from exc


def _load_errors(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test images of the run's data set with the saved ``y_true`` and ``y_pred``."""
    name = _load_history(run_dir / "history.json").meta.get("data")
    if name not in NAMED:
        raise XPNetValueError(
            f"{run_dir / 'history.json'}: data {name!r} is not one of {list(NAMED)}, so its test images cannot be found"
        )
    predictions = run_dir / "predictions.npz"
    if not predictions.is_file():
        raise DataNotFoundError(f"{predictions}: no such file; expected the predictions.npz xpnet train writes")
    try:
        with np.load(predictions) as saved:
            y_true, y_pred = saved["y_true"], saved["y_pred"]
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DataIntegrityError(f"{predictions}: expected arrays y_true and y_pred ({exc})") from exc
    source = load_data(name)
    assert source.test is not None
    x_test, y_test = source.test
    if not np.array_equal(y_test, y_true):
        raise DataIntegrityError(f"{predictions}: y_true does not match the {name} test labels")
    return x_test, y_true, y_pred


def plot_command(args: argparse.Namespace) -> None:
    from .. import plot

    path = Path(args.path)
    if args.output is not None:
        plot.image_path(args.output, "--output")  # before the history is read
    if args.errors:
        written = plot.plot_errors(*_load_errors(path), args.output or path / "errors.png")
    else:
        history_path = path / "history.json" if path.is_dir() else path
        written = plot.plot_history(_load_history(history_path), args.output or history_path.with_name("curves.png"))
    print(f"wrote {written}")
