"""Backend parity: train the same seeded model on the same batches on several devices and compare every step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..backend import Backend, dtype_name, resolve, to_numpy
from ..backend import devices as usable_devices
from ..backend.precision import check_precision, precision_scope
from ..data.batches import Batches
from ..distributed import GradientExchange
from ..errors import XPNetError, XPNetValueError
from ..nn.init import generators
from ..nn.layers import Context
from ..nn.network import MLP
from ..optim import make_optimizer
from ..training.compiled import CompiledStep
from ..training.step import train_step

# Default agreement thresholds on the normwise relative difference (see docs/parity.md for why): by dtype at the
# highest precision, by precision for TensorFloat-32 and bfloat16 matrix products (float32 models only).
TOLERANCES = {"float64": 1e-10, "float32": 1e-4}
PRECISION_TOLERANCES = {"tf32": 1e-2, "bf16": 1e-1}


@dataclass
class DeviceParity:
    """How one device compares with the reference, step by step (index 0 is step 1)."""

    device: str
    loss_diff: list[float] = field(default_factory=list)
    param_diff: list[float] = field(default_factory=list)  # per step: the largest over the parameters
    per_param_diff: list[list[float]] = field(default_factory=list)  # per step: one entry per W1, b1, W2, ...
    first_divergence: int | None = None
    verdict: str = "agrees"

    @property
    def max_diff(self) -> float:
        return max([*self.loss_diff, *self.param_diff], default=0.0)


@dataclass
class ParityReport:
    """Result of :func:`compare_backends`: ``ok`` is True when every device that ran agrees."""

    reference: str
    dtype: str
    steps: int
    tolerance: float
    devices: list[DeviceParity]

    @property
    def ok(self) -> bool:
        """Whether every device that ran agrees with the reference."""
        return all(d.verdict in ("reference", "agrees") or d.verdict.startswith("skipped") for d in self.devices)

    def table(self) -> str:
        """A plain-text table: device, final and max difference, first step above tolerance, verdict."""
        width = max([22, *(len(d.device) + 2 for d in self.devices)])
        lines = [
            f"reference: {self.reference} ({self.dtype}, {self.steps} steps, tolerance {self.tolerance:.0e})",
            f"{'device':<{width}}{'final diff':>12}{'max diff':>12}{'diverges at':>13}  verdict",
        ]
        for d in self.devices:
            final = max(d.loss_diff[-1:] + d.param_diff[-1:], default=float("nan"))
            step = "-" if d.first_divergence is None else str(d.first_divergence)
            ran = bool(d.loss_diff)
            lines.append(
                f"{d.device:<{width}}{(f'{final:.2e}' if ran else '-'):>12}{(f'{d.max_diff:.2e}' if ran else '-'):>12}{step:>13}  {d.verdict}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data (what ``xpnet parity --json`` writes)."""
        return {**asdict(self), "ok": self.ok}


SCALE_FLOOR = 1e-3  # arrays smaller than this are compared absolutely (scaled by it)


def _relative(a: np.ndarray, ref: np.ndarray) -> float:
    """Normwise relative difference ``max|a − ref| / max(max|ref|, 1e-3)``.

    The floor keeps a parameter that stays near zero (a bias in front of batch norm, whose gradient vanishes) from
    turning rounding noise into a large relative difference."""
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, SCALE_FLOOR)
    diff = float(np.max(np.abs(a.astype(np.float64) - ref.astype(np.float64)))) if ref.size else 0.0
    return diff / scale


def _problem(seed: int, sizes: Sequence[int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """A learnable host data set: inputs ~ N(0, 1), labels from a random linear teacher."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, sizes[0]))
    return x, np.argmax(x @ rng.normal(size=(sizes[0], sizes[-1])), axis=1)


def _trajectory(
    target: Backend,
    dtype: str,
    sizes: Sequence[int],
    seed: int,
    steps: int,
    batch_size: int,
    optimizer: str,
    lr: float,
    layers: dict[str, Any],
    session: Any = None,
    precision: str = "highest",
) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Loss and parameters (on the host) after each of ``steps`` training steps on ``target``, its matrix products
    at ``precision``.

    With ``session`` (a data-parallel job) this rank trains on its shard of every batch, as :func:`xpnet.train`
    does, and the loss recorded is the global batch's.
    """
    check_precision(precision, target, dtype)
    with target.activate(), precision_scope(target, precision):  # cuda:N: CuPy works on the current GPU
        return _steps(target, dtype, sizes, seed, steps, batch_size, optimizer, lr, layers, session)


def _steps(
    target: Backend,
    dtype: str,
    sizes: Sequence[int],
    seed: int,
    steps: int,
    batch_size: int,
    optimizer: str,
    lr: float,
    layers: dict[str, Any],
    session: Any,
) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    init_rng, shuffle_rng, data_rng = generators(seed, 3)
    x, y = _problem(int(data_rng.integers(2**31)), sizes, n=max(4 * batch_size, 256))
    model = MLP(sizes, **layers, device=target, dtype=dtype, seed=init_rng)
    opt = make_optimizer(optimizer, lr, momentum=0.9)
    shard = None if session is None else session.shard
    batches = Batches(
        x, y, target, model.dtype, batch_size=batch_size, rng=shuffle_rng, placement="device", shard=shard
    )
    exchange, compiled = None, None
    if session is not None:
        session.bind(target)
        exchange = GradientExchange(session.comm, model.params)
    else:  # one process: the step train() takes, compiled where the backend compiles (JAX)
        compiled = CompiledStep.build(model, opt, 0.0, None, seed)
    out: list[tuple[np.ndarray, list[np.ndarray]]] = []
    while len(out) < steps:
        for i, (xb, yb) in enumerate(batches):
            if compiled is not None:
                loss, _ = compiled(xb, yb, len(out), opt.lr)
            else:
                context = Context(training=True, seed=seed, step=len(out), first_row=batches.first_row(i))
                loss, _ = train_step(model, opt, xb, yb, 0.0, exchange, batches.share(i), context)  # train()'s step
            host_loss = to_numpy(loss)  # a parity tool may sync
            if session is not None:  # the global batch's loss: the ranks' losses weighted by their rows
                parts = session.gather(np.asarray([float(host_loss) * xb.shape[0], xb.shape[0]]))
                host_loss = np.asarray(parts[:, 0].sum() / parts[:, 1].sum(), dtype=host_loss.dtype)
            out.append((host_loss, [to_numpy(p).copy() for p in model.params + model.buffers]))
            if len(out) == steps:
                break
    return out


def _compare(entry: DeviceParity, run: list[Any], reference: list[Any], tol: float) -> None:
    """Fill ``entry`` with the per-step differences of ``run`` from ``reference`` and its verdict."""
    for step, ((loss, params), (ref_loss, ref_params)) in enumerate(zip(run, reference), start=1):
        entry.loss_diff.append(_relative(loss, ref_loss))
        entry.per_param_diff.append([_relative(p, r) for p, r in zip(params, ref_params)])
        entry.param_diff.append(max(entry.per_param_diff[-1]))
        if entry.first_divergence is None and max(entry.loss_diff[-1], entry.param_diff[-1]) > tol:
            entry.first_divergence, entry.verdict = step, "DISAGREES"


def check_run(dtype: Any, steps: Any) -> str:
    """A parity run's dtype (returned by name) and number of steps, checked."""
    name = dtype_name(dtype)
    if name not in TOLERANCES:
        raise XPNetValueError(f"dtype: expected one of {sorted(TOLERANCES)}; received {dtype!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise XPNetValueError(f"steps: expected a positive number of training steps to compare; received {steps!r}")
    return name


def compare_backends(
    devices: Sequence[str | Backend] | None = None,
    *,
    steps: int = 100,
    sizes: Sequence[int] = (32, 64, 10),
    seed: int = 0,
    dtype: str = "float32",
    tolerance: float | None = None,
    batch_size: int = 32,
    optimizer: str = "momentum",
    lr: float = 0.05,
    activation: str = "relu",
    dropout: float = 0.0,
    norm: str | None = None,
    precision: str = "highest",
) -> ParityReport:
    """Train the same seeded model on the same batches on each device; compare with the first, step by step.

    Parameters
    ----------
    devices : sequence of device specs, optional
        Default: every device :func:`xpnet.devices` lists. The first is the reference.
    steps : int
        Optimizer steps to compare.
    sizes : sequence of int
        Layer widths of the model.
    dtype : {"float32", "float64"}
    tolerance : float, optional
        Largest normwise relative difference (of the loss or of any parameter, at any step) still counted as
        agreement; default :data:`TOLERANCES` for the dtype (float64 1e-10, float32 1e-4), or
        :data:`PRECISION_TOLERANCES` for a lower ``precision`` (tf32 1e-2, bf16 1e-1).
    activation, dropout, norm
        The network's hidden layers (see :class:`xpnet.MLP`): dropout masks are drawn on each device from the
        same seed, and batch norm's running statistics are compared like the parameters.

    Returns
    -------
    ParityReport
        Per device: per-step differences of the loss, of every parameter and buffer (``per_param_diff``) and their maximum
        (``param_diff``), the first step above tolerance, and the verdict (``reference``, ``agrees``,
        ``DISAGREES`` or ``skipped: why``).
    """
    name = check_run(dtype, steps)
    precision = check_precision(precision, dtype=name)
    default = TOLERANCES[name] if precision == "highest" else PRECISION_TOLERANCES[precision]
    tol = default if tolerance is None else tolerance
    specs = list(devices) if devices is not None else usable_devices()
    if not specs:
        raise XPNetValueError("devices: expected at least one device spec")
    results: list[DeviceParity] = []
    reference: list[tuple[np.ndarray, list[np.ndarray]]] | None = None
    for spec in specs:
        target = resolve(spec)
        entry = DeviceParity(target.spec)
        results.append(entry)
        if target.spec == "torch:meta":
            entry.verdict = "skipped: torch:meta has no values"
            continue
        try:
            layers = {"activation": activation, "dropout": dropout, "norm": norm}
            run = _trajectory(target, name, sizes, seed, steps, batch_size, optimizer, lr, layers, precision=precision)
        except XPNetError as exc:
            entry.verdict = f"skipped: {exc}"
            continue
        if reference is None:
            reference, entry.verdict = run, "reference"
        _compare(entry, run, reference, tol)
    return ParityReport(
        results[0].device if reference is None else next(d.device for d in results if d.verdict == "reference"),
        name,
        steps,
        tol,
        results,
    )
