"""``cupy.fft``: NumPy's, run as the stand-in's kernels."""

import numpy as np

from ._namespace import populate

__all__ = populate(globals(), np.fft, [n for n in dir(np.fft) if not n.startswith("_")])
