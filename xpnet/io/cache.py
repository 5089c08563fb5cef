"""xpnet's folder in the user's cache: downloaded data sets (:mod:`xpnet.datasets.remote`) and JAX's compiled
programs (:mod:`xpnet.backend.program_cache`)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "XPNET_CACHE_DIR"


def cache_root() -> Path | None:
    """``$XPNET_CACHE_DIR``, else the per-user cache folder for "xpnet" (``~/.cache/xpnet`` on Linux; platformdirs,
    which pooch brings), else None: no folder known without platformdirs."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    try:
        import platformdirs
    except ImportError:
        return None
    return Path(platformdirs.user_cache_dir("xpnet"))
