"""The gradient exchange of a data-parallel step: every rank's gradients summed in one flat buffer, one call.

Rank ``r`` holds ``n_r`` of the ``n`` samples of the global batch and computes the mean gradient ``g_r`` over
them (the L2 term ``l2·W`` included). The global batch's gradient is ``Σ_r (n_r / n)·g_r``: each rank scales
its buffer by its share ``n_r / n`` and the buffers are summed with one allreduce. With equal shares this is
the plain mean; uneven shares (a batch that does not split evenly, the short last batch) stay exact, and the
L2 term, present on every rank, is counted once because the shares add up to one.

The buffer is one contiguous array holding every parameter's gradient; on backends whose in-place operators
modify the array (NumPy, CuPy, PyTorch, array-api-strict), backprop writes straight into views of it, each laid
out as its parameter is (:mod:`xpnet.backend.layout`), so packing costs nothing and the optimizer's update runs at
unit stride; elsewhere the gradients are copied in.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ..backend import backend_of, parameter_view

Array = Any


class GradientExchange:
    """One flat gradient buffer for ``params`` and the communicator that sums it over the ranks.

    Parameters
    ----------
    comm : xpnet.backend.comm.Communicator
        Bound to the parameters' device.
    params : list of arrays
        The model's parameters (shapes, dtype and device of the buffer).
    """

    def __init__(self, comm: Any, params: list[Array]) -> None:
        self.comm = comm
        self.shapes = [tuple(p.shape) for p in params]
        ends = [0]
        for shape in self.shapes:
            ends.append(ends[-1] + math.prod(shape))
        self.bounds = list(itertools.pairwise(ends))
        self._xp, self._dtype, self._device = array_namespace(params[0]), params[0].dtype, device_of(params[0])
        self._backend = backend_of(params[0])
        self._writes_through = self._backend.updates_in_place
        self._allocate()

    @property
    def size(self) -> int:
        """Number of values exchanged per step."""
        return self.bounds[-1][1]

    def _allocate(self) -> None:
        with self._backend.activate():  # CuPy allocates on the current GPU: make it the parameters' one
            self.flat = self._xp.zeros((self.size,), dtype=self._dtype, device=self._device)
        self.views = self._split(self.flat)

    def _split(self, flat: Array) -> list[Array]:
        return [parameter_view(flat[s:e], shape, self._backend) for (s, e), shape in zip(self.bounds, self.shapes)]

    def sinks(self) -> list[tuple[Array, float]] | None:
        """``(view, 0.0)`` per parameter for :meth:`xpnet.MLP._backprop` to write the gradients into, or None."""
        return [(view, 0.0) for view in self.views] if self._writes_through else None

    def zero_gradients(self) -> list[Array]:
        """Zero gradients in the buffer, for a rank whose share of a short last batch is empty."""
        self._allocate()
        return self.views

    def allreduce(self, grads: list[Array], share: float) -> list[Array]:
        """``Σ_r share_r·grads_r`` over the ranks: the global batch's gradients, one per parameter."""
        xp = self._xp
        if not self._writes_through:
            self.flat = xp.concat([xp.reshape(g, (-1,)) for g in grads])
        else:
            for g, view in zip(grads, self.views):
                if g is not view:  # a backend path that returned a new array instead of writing the view
                    view[...] = g
        if share != 1.0:
            self.flat *= share
        return self._split(self.comm.allreduce_sum(self.flat))
