"""Tools to show that backends agree: gradient checks, array comparison, step-by-step parity, a pytest fixture.

- :func:`check_grads` — backprop against central finite differences (float64 host copy).
- :func:`assert_close` — compare arrays from any backend with dtype-aware tolerances.
- :func:`compare_backends` — train the same seeded model on several devices and compare every step
  (also ``xpnet parity`` on the command line).
- The ``xp_device`` pytest fixture (registered by installing xpnet), parametrized over :data:`CASES`.
"""

from __future__ import annotations

from .compare import DEFAULT_TOLERANCES, assert_close
from .gradcheck import GradCheck, check_grads
from .matrix import CASES, XPDevice, selected_cases
from .parity import TOLERANCES, DeviceParity, ParityReport, compare_backends

__all__ = [
    "CASES",
    "DEFAULT_TOLERANCES",
    "TOLERANCES",
    "DeviceParity",
    "GradCheck",
    "ParityReport",
    "XPDevice",
    "assert_close",
    "check_grads",
    "compare_backends",
    "selected_cases",
]
