"""scikit-learn estimators over xpnet: ``MLPClassifier`` and ``MLPRegressor``, trained on any device.

Needs scikit-learn (``pip install "xpnet[sklearn]"``); ``import xpnet`` does not import it. The parameters mean
what scikit-learn's ``MLPClassifier``'s do, plus ``device``, ``dtype`` and ``optimizer``; see ``docs/sklearn.md``.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("sklearn") is None:  # one line saying what to install, not a traceback into our modules
    raise ModuleNotFoundError(
        'xpnet.sklearn needs scikit-learn, which is not installed: pip install "xpnet[sklearn]"', name="sklearn"
    )

from ._estimators import MLPClassifier, MLPRegressor
from ._files import load_estimator, save_estimator

__all__ = ["MLPClassifier", "MLPRegressor", "load_estimator", "save_estimator"]
