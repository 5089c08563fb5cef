"""The one family of errors xpnet raises for bad input, missing backends and broken files."""

from __future__ import annotations


class XPNetError(Exception):
    """Base class of every error xpnet raises on purpose."""


class XPNetValueError(XPNetError, ValueError):
    """An argument has the right type but a wrong value (shape, range, name, ...)."""


class XPNetTypeError(XPNetError, TypeError):
    """An argument has the wrong type."""


class BackendUnavailableError(XPNetValueError):
    """A device spec names a backend that is not installed or has no usable device here."""


class DeviceMismatchError(XPNetValueError):
    """Arrays that must live on one device live on different ones."""


class RanksDisagreeError(XPNetValueError):
    """The processes of a data-parallel job hold different settings, data or weights (raised on every rank)."""


class MPILaunchError(XPNetValueError):
    """A launcher started several processes but MPI joined each into a job of its own (a launcher from another
    MPI than the one mpi4py uses): each would train alone, on the whole data set."""


class ModelTooLargeError(XPNetError, MemoryError):
    """A network's parameters could not be allocated (widths too large for this machine's or device's memory)."""


class DataIntegrityError(XPNetValueError):
    """A data or model file is corrupt, truncated, of the wrong format or fails its checksum."""


class WriteFailedError(XPNetError, OSError):
    """A file could not be written (no space left, a file-size limit, ...); the previous file is unchanged.

    ``errno`` and ``filename`` are those of the failure.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()


class DataNotFoundError(XPNetError, FileNotFoundError):
    """A data or model file does not exist where it was looked for."""


def describe(value: object) -> str:
    """Short text for an offending value: its repr (truncated) and its type."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (type {type(value).__name__})"


class TrainingDivergedError(XPNetError, ArithmeticError):
    """The training loss became NaN or infinite.

    Attributes
    ----------
    epoch, step : int
        The epoch (1-based) and the global step (1-based) of the first non-finite loss.
    model : MLP or None
        The network with the last weights known to be good (those at the start of that epoch, or of the last
        checkpoint written after it); the checkpoint on disk, if any, holds them too.
    """

    def __init__(self, message: str, *, epoch: int, step: int, model: object = None) -> None:
        super().__init__(message)
        self.epoch, self.step, self.model = epoch, step, model
