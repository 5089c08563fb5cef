"""A network's evaluation passes as one compiled program each, where the backend compiles (JAX).

Run operation by operation, JAX compiles every operation for every shape it meets: a forward pass, its loss and
the metrics of one batch were some fifty programs, each compiled at its first use (about 0.3 s apiece on a GPU).
:func:`program` wraps a pass as a pure function of the network's arrays and the call's inputs and compiles it once
per input shape (:meth:`xpnet.backend.Backend.compile`); on every other backend the pass runs as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def program(model: Any, name: str, body: Callable[..., Any]) -> Callable[..., Any]:
    """``body(model, *args)`` as a function of ``*args``, compiled as a whole where the backend compiles.

    ``name`` keys the compiled program on the model (one per pass; the compiler keeps one per input shape). The
    parameters, buffers and the input and target standardizations are inputs of the program, never constants baked
    into it, so training, loading or ``set_standardization`` never leave a stale program behind.
    """
    cache = model.__dict__.setdefault("_programs", {})
    if name not in cache:

        def pure(params: list[Any], buffers: list[Any], scales: Any, *args: Any) -> Any:
            saved = model.params, model.buffers, model._standardize, model._targets
            model.params, model.buffers = list(params), list(buffers)
            model._standardize, model._targets = scales
            try:
                return body(model, *args)
            finally:
                model.params, model.buffers, model._standardize, model._targets = saved

        cache[name] = model.backend.compile(pure)
    compiled = cache[name]
    if compiled is None:
        return lambda *args: body(model, *args)
    return lambda *args: compiled(model.params, model.buffers, (model._standardize, model._targets), *args)
