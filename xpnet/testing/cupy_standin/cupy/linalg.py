"""``cupy.linalg``: NumPy's, run as the stand-in's kernels."""

import numpy as np

from ._namespace import populate

__all__ = populate(globals(), np.linalg, [n for n in dir(np.linalg) if not n.startswith("_")])
