"""``cupy.ndarray`` as the stand-in has it: NumPy memory that lives on a numbered simulated GPU.

The traits that matter to code written for CuPy: implicit conversion to NumPy raises ``TypeError`` (``.get()`` is
the way to the host), operands must live on the current device, NumPy arrays are never operands, reductions return
0-d arrays, ``.device`` is a fresh unhashable :class:`cupy.cuda.Device`, and ``.data.ptr`` addresses the memory.
"""

from __future__ import annotations

import operator
import weakref
from typing import Any, ClassVar

import numpy as np

from . import _dispatch

_REFUSED = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array explicitly."
)
_VIEWS = frozenset({"reshape", "view", "transpose", "squeeze", "swapaxes"})  # no kernel: any current device
_READS = frozenset({"item", "tolist", "tobytes"})  # host reads: they synchronise


class MemoryPointer:
    """``ndarray.data``: the address of the array's first element on its device."""

    _live: ClassVar[weakref.WeakValueDictionary[int, ndarray]] = weakref.WeakValueDictionary()

    def __init__(self, array: ndarray) -> None:
        self.ptr = int(array._a.__array_interface__["data"][0])
        self.device_id = array._device
        self.mem = array
        MemoryPointer._live[self.ptr] = array

    @classmethod
    def find(cls, ptr: int) -> ndarray:
        """The array whose ``data.ptr`` was read as ``ptr`` (how the stand-in's NCCL reaches memory by address)."""
        try:
            return cls._live[int(ptr)]
        except KeyError:
            raise ValueError(f"cudaErrorInvalidValue: no device memory at {int(ptr):#x}") from None

    def __int__(self) -> int:
        return self.ptr


class ndarray:
    """A multi-dimensional array on a simulated GPU (see the module docstring)."""

    __slots__ = ("__weakref__", "_a", "_device")
    __array_priority__ = 100.0

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None, strides: Any = None, order: Any = "C"):
        self._a = np.empty(shape, dtype=dtype, order=order)
        self._device = _dispatch.current_device()

    @classmethod
    def _new(cls, a: np.ndarray, device: int) -> ndarray:
        self = cls.__new__(cls)
        self._a, self._device = a, device
        return self

    # ------------------------------------------------------------ metadata (no kernel, no check)
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray._new(self._a.T, self._device))
    mT = property(lambda self: ndarray._new(np.swapaxes(self._a, -1, -2), self._device))
    data = property(lambda self: MemoryPointer(self))

    @property
    def base(self) -> Any:
        return None if self._a.base is None else ndarray._new(self._a.base, self._device)

    @property
    def device(self) -> Any:
        from .cuda.device import Device

        return Device(self._device)

    def __len__(self) -> int:
        return len(self._a)

    def __repr__(self) -> str:
        return repr(self.get())

    __str__ = __repr__

    # ------------------------------------------------------------ the host: explicit only
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(_REFUSED)

    def get(self, stream: Any = None, order: Any = "C", out: np.ndarray | None = None, blocking: bool = True) -> Any:
        """A NumPy copy (into ``out`` when given, which must match in shape and dtype)."""
        _dispatch.refuse_sync("a device-to-host copy (ndarray.get)")
        if out is None:
            return np.array(self._a, order=order, copy=True)
        if not isinstance(out, np.ndarray) or out.shape != self.shape or out.dtype != self.dtype:
            raise ValueError("Shape mismatch or dtype mismatch between `out` and the array")
        np.copyto(out, self._a)
        return out

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        """Copy the NumPy array ``arr`` (same shape and dtype) into this array."""
        _dispatch.refuse_sync("a host-to-device copy (ndarray.set)")
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray; received {type(arr)}")
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError(
                f"Shape mismatch or dtype mismatch: {arr.shape} {arr.dtype} into {self.shape} {self.dtype}"
            )
        np.copyto(self._a, arr)

    def _scalar(self, convert: Any) -> Any:
        _dispatch.refuse_sync("a device value read on the host")
        return convert(self._a)

    def __bool__(self) -> bool:
        return self._scalar(bool)

    def __int__(self) -> int:
        return self._scalar(int)

    def __float__(self) -> float:
        return self._scalar(float)

    def __complex__(self) -> complex:
        return self._scalar(complex)

    def __iter__(self) -> Any:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    # ------------------------------------------------------------ kernels
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_a", "_device"):
            raise AttributeError(name)
        method = getattr(self._a, name)  # AttributeError for what NumPy's arrays lack too
        if not callable(method):
            return method
        if name in _READS:
            return lambda *args, **kwargs: self._scalar(lambda a: getattr(a, name)(*args, **kwargs))
        if name in _VIEWS:
            return lambda *args, **kwargs: _dispatch.wrap(method(*args, **kwargs), self._device)
        return lambda *args, **kwargs: _dispatch.call(getattr(np.ndarray, name), (self, *args), kwargs)

    def __getitem__(self, key: Any) -> Any:
        if _basic(key):  # a view: no kernel (a 0-d view where NumPy would give a scalar, as CuPy does)
            view = self._a[key]
            if not isinstance(view, np.ndarray):
                view = self._a[(key if isinstance(key, tuple) else (key,)) + (Ellipsis,)]
            return ndarray._new(view, self._device)
        return _dispatch.call(operator.getitem, (self, key), {})

    def __setitem__(self, key: Any, value: Any) -> None:
        _dispatch.call(operator.setitem, (self, key, value), {})

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if any(isinstance(v, np.ndarray) for v in (*inputs, *kwargs.get("out", ()))):
            return NotImplemented  # NumPy and CuPy arrays do not mix
        if len(kwargs.get("out", ())) == 1:
            kwargs["out"] = kwargs["out"][0]
        return _dispatch.call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if not all(issubclass(t, ndarray) for t in types):
            return NotImplemented
        return _dispatch.call(func, args, kwargs)

    def __hash__(self) -> int:
        raise TypeError("unhashable type: 'cupy.ndarray'")


def _basic(key: Any) -> bool:
    """An index that NumPy answers with a view (integers, slices, ``None``, ``...``)."""
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or (isinstance(k, (int, slice)) and not isinstance(k, bool)) for k in keys)


def _operator(func: Any, reflected: bool = False, inplace: bool = False) -> Any:
    if inplace:

        def method(self: ndarray, other: Any) -> Any:
            _dispatch.call(func, (self, other), {"out": self})
            return self

    elif reflected:

        def method(self: ndarray, other: Any) -> Any:
            return _dispatch.call(func, (other, self), {})

    else:

        def method(self: ndarray, other: Any) -> Any:
            return _dispatch.call(func, (self, other), {})

    return method


_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide, "floordiv": np.floor_divide,
    "mod": np.remainder, "pow": np.power, "matmul": np.matmul, "and": np.bitwise_and, "or": np.bitwise_or,
    "xor": np.bitwise_xor, "lshift": np.left_shift, "rshift": np.right_shift,
}  # fmt: skip
for _name, _func in _BINARY.items():
    setattr(ndarray, f"__{_name}__", _operator(_func))
    setattr(ndarray, f"__r{_name}__", _operator(_func, reflected=True))
    setattr(ndarray, f"__i{_name}__", _operator(_func, inplace=True))
for _name, _func in {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
                     "ge": np.greater_equal}.items():  # fmt: skip
    setattr(ndarray, f"__{_name}__", _operator(_func))
for _name, _func in {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}.items():
    setattr(ndarray, f"__{_name}__", lambda self, _func=_func: _dispatch.call(_func, (self,), {}))
