"""JAX's compiled programs kept on disk, so a later process loads them where it would compile them again.

A run on JAX compiles a few dozen programs (the step for each batch shape, evaluation, the metrics, gathers): on a
GPU about 0.3 s each, most of a short run's first epoch. CuPy keeps its compiled kernels on disk by default
(``~/.cupy/kernel_cache``); JAX keeps nothing unless asked, and when asked skips every program that compiled in
under a second, which is all of xpnet's. :func:`use_program_cache` asks, with that threshold at zero.

The setting is JAX's own and global to the process, so the library never makes it by itself: ``xpnet train`` (a
process of its own) makes it for a JAX device, and a script may call :func:`use_program_cache` before it trains.
Whatever the user set through JAX, by environment or ``jax.config.update`` (the folder,
``JAX_ENABLE_COMPILATION_CACHE=0``, the threshold, the size limit), is kept as set.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

SIZE_LIMIT = 1 << 30  # bytes: JAX evicts the least recently used programs beyond it, under a file lock
# Programs loaded from the cache of JAX 0.4.32-0.4.35 computed garbage on CPUs (a review's runs: losses of 1e22 in
# the next process, every run up to 0.4.34, one in six on 0.4.35); 0.5.3 was right in eight runs, 0.6.0 and later
# in every one. Kept from 0.6 on, with a margin; older JAX keeps nothing.
SOUND_FROM = (0, 6)
FOLDER = "jax-programs"


def use_program_cache(folder: str | os.PathLike[str] | None = None) -> Path | None:
    """Keep JAX's compiled programs in ``folder`` (default: ``jax-programs`` in xpnet's cache folder,
    ``$XPNET_CACHE_DIR`` or ``~/.cache/xpnet``) for later processes; returns the folder JAX keeps them in.

    Returns None, changing nothing, where JAX is not installed or older than 0.6, the user turned JAX's cache off
    (``JAX_ENABLE_COMPILATION_CACHE=0``), no folder is known (no ``folder``, no ``XPNET_CACHE_DIR`` and no
    platformdirs) or the folder cannot be made. A folder the user already gave JAX is kept and returned. Call it
    before the first program compiles: JAX may have decided by then.
    """
    try:
        jax: Any = importlib.import_module("jax")
    except ImportError:
        return None
    config = jax.config
    if jax.__version_info__ < SOUND_FROM or not getattr(config, "jax_enable_compilation_cache", True):
        return None
    if config.jax_compilation_cache_dir:
        return Path(config.jax_compilation_cache_dir)
    if folder is None:
        from ..io.cache import cache_root

        root = cache_root()
        if root is None:
            return None
        folder = root / FOLDER
    path = Path(folder).absolute()  # where the process started: a later chdir does not move it
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    config.update("jax_compilation_cache_dir", str(path))
    # JAX's thresholds where they are at its defaults (a value set by environment or jax.config.update is kept)
    if not _set("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", config.jax_persistent_cache_min_compile_time_secs, 1.0):
        config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    if not _set("JAX_COMPILATION_CACHE_MAX_SIZE", config.jax_compilation_cache_max_size, -1):
        config.update("jax_compilation_cache_max_size", SIZE_LIMIT)  # with a limit JAX locks reads and writes
    return path


def _set(variable: str, value: Any, default: Any) -> bool:
    """Whether the user set a JAX option: in the environment, or to something other than JAX's default."""
    return variable in os.environ or value != default


def keep_programs_of(backend: Any) -> Path | None:
    """:func:`use_program_cache` where ``backend`` compiles its programs (JAX); None, changing nothing, elsewhere."""
    return use_program_cache() if backend.compiles else None
