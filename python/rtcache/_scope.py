"""The scoped, shared runtime cache: ``with rtcache.runtime_cache(engines, target) as cache:``
and ``with rtcache.runtime_config(targets, runtime_cache=target) as targets:``.

The scope itself is rtcache::ScopedRuntimeCache (include/rtcache/engine.h), the
one implementation for C++ and Python; this module only checks the arguments
and makes it a context manager.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import IO, Optional, Union

from ._rtcache import RuntimeCache, ScopedRuntimeCache
from ._targets import engines_of

PathOrStream = Union[str, "os.PathLike[str]", IO[bytes]]
CacheTarget = Union[str, "os.PathLike[str]", IO[bytes], RuntimeCache]
# The fields runtime_config() takes, as RuntimeSettings has them.
SETTINGS = ("runtime_cache",)


def _target(path_or_stream: CacheTarget) -> Union[str, IO[bytes], RuntimeCache]:
    """A path (``str``/``os.PathLike``) as a path; a handle or a binary file-like object as
    itself."""
    if isinstance(path_or_stream, RuntimeCache):
        return path_or_stream
    if isinstance(path_or_stream, (str, os.PathLike)):
        return os.fspath(path_or_stream)
    if callable(getattr(path_or_stream, "read", None)) and callable(
        getattr(path_or_stream, "write", None)
    ):
        return path_or_stream
    raise TypeError(
        "runtime_cache: the target must be a path (str or os.PathLike), a RuntimeCache or a "
        f"binary file-like object with read() and write(), not {type(path_or_stream).__name__}"
    )


class RuntimeCacheScope:
    """One cache shared by several engines for the duration of a ``with`` block.

    Entering makes one handle (autosave off), loads it from the target and
    attaches it to every engine (an engine listed twice, once). Leaving gives
    each engine its previous runtime settings back and then, with ``autosave``,
    saves the handle once. A save failure there is logged as a warning (logger
    ``rtcache``) and never raised, so it cannot mask an exception leaving the
    block.

    The target is a path (``str`` or ``os.PathLike``), ``""`` (memory only:
    nothing is read or written), a RuntimeCache (attached as it is, not loaded;
    with ``autosave`` saved once to its own path at the end) or a binary
    file-like object with ``read`` and ``write``: read once, from its position, on entering, and written once,
    whole, at that same position on leaving (then truncated there, when the
    object is seekable and has ``truncate``), never appended after the old
    bytes. The stream's own exception is raised when one of those calls fails.

    All of this is rtcache::ScopedRuntimeCache, the C++ implementation, bound.
    A scope entered but never left is closed when it is collected, as the C++
    destructor does.
    """

    def __init__(
        self,
        engines: object,
        path_or_stream: CacheTarget = "",
        autosave: bool = True,
    ) -> None:
        self._engines = engines_of(engines, "runtime_cache")
        self._target = _target(path_or_stream)
        self._autosave = autosave
        self._scope: Optional[ScopedRuntimeCache] = None
        self._cache: Optional[RuntimeCache] = None

    @property
    def cache(self) -> Optional[RuntimeCache]:
        """The shared handle (None before entering)."""
        return self._cache

    def __enter__(self) -> RuntimeCache:
        if self._scope is not None:
            raise RuntimeError("runtime_cache: a scope can be entered only once")
        self._scope = ScopedRuntimeCache.open(self._engines, self._target, self._autosave)
        self._cache = self._scope.cache
        return self._cache

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if self._scope is not None:
            self._scope.end()  # a failed save is logged, never raised

    def close(self) -> None:
        """Restores the engines and saves now (raising on failure); later calls do nothing."""
        if self._scope is not None:
            self._scope.close()


def runtime_cache(
    engines: object,
    path_or_stream: CacheTarget = "",
    autosave: bool = True,
) -> RuntimeCacheScope:
    """``with runtime_cache(engines, path_or_stream) as cache:`` shares one cache.

    ``engines``: an Engine, an iterable of targets, or an object holding engines
    (rtcache._targets says how they are found). See RuntimeCacheScope. Raises
    TypeError for a cache target that is not a path, a handle or a file-like
    object, and InvalidArgumentError (a RuntimeError) when no engine is found.
    """
    return RuntimeCacheScope(engines, path_or_stream, autosave)


class RuntimeConfig:
    """``with runtime_config(targets, **overrides) as targets:``: see runtime_config()."""

    def __init__(self, targets: object, overrides: dict[str, object]) -> None:
        unknown = sorted(set(overrides) - set(SETTINGS))
        if unknown:
            raise TypeError(
                f"runtime_config: unknown setting {', '.join(map(repr, unknown))} "
                f"(the settings are: {', '.join(SETTINGS)})"
            )
        self._targets = targets
        self._overrides = overrides
        self._scope: Optional[RuntimeCacheScope] = None
        self._entered = False

    def __enter__(self) -> object:
        if self._entered:
            raise RuntimeError("runtime_config: a block can be entered only once")
        self._entered = True
        engines = engines_of(self._targets, "runtime_config")
        if "runtime_cache" in self._overrides:
            target = self._overrides["runtime_cache"]
            if target is None:
                target = ""  # none: one private cache in memory for the block
            # A handle given is its owner's to save; a cache made here is saved once.
            autosave = not isinstance(target, RuntimeCache)
            self._scope = RuntimeCacheScope(engines, target, autosave)  # type: ignore[arg-type]
            self._scope.__enter__()
        if isinstance(self._targets, (list, tuple)):
            return tuple(self._targets)
        return self._targets

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if self._scope is not None:
            self._scope.__exit__(exc_type, exc, traceback)


def runtime_config(targets: object, **overrides: object) -> RuntimeConfig:
    """``with runtime_config(targets, runtime_cache=...) as targets:`` applies settings to
    every engine under ``targets`` for the block.

    ``targets``: an Engine, an iterable of targets, or an object holding engines
    (rtcache._targets says how they are found); none found raises
    InvalidArgumentError (a RuntimeError) when the block is entered. The block
    gets the target back, or a tuple when a list or tuple was given, so
    ``with runtime_config([a, b], runtime_cache=p) as (a, b):`` works.

    Overrides are RuntimeSettings' fields (an unknown one raises TypeError):
    ``runtime_cache`` is a path, a binary stream, a RuntimeCache, or None (one
    private cache in memory). A path or a stream is loaded into one handle
    shared by every engine and saved there once when the block ends; a handle
    is attached as it is and saved by its owner. Each engine gets its previous
    settings back at the end. This is runtime_cache() (one implementation,
    rtcache::ScopedRuntimeCache); a save failure at the end is logged, never
    raised.
    """
    return RuntimeConfig(targets, overrides)
