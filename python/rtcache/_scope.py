"""The scoped, shared runtime cache: ``with rtcache.runtime_cache(engines, target) as cache:``.

The scope itself is rtcache::ScopedRuntimeCache (include/rtcache/engine.h), the
one implementation for C++ and Python; this module only checks the arguments
and makes it a context manager.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from types import TracebackType
from typing import IO, Optional, Union

from ._rtcache import Engine, InvalidArgumentError, RuntimeCache, ScopedRuntimeCache

PathOrStream = Union[str, "os.PathLike[str]", IO[bytes]]


def _engine_list(engines: Union[Engine, Iterable[Engine]]) -> list[Engine]:
    """The engines as a list; TypeError for anything that is not one."""
    if isinstance(engines, Engine):
        return [engines]
    if not isinstance(engines, Iterable) or isinstance(engines, (str, bytes)):
        raise TypeError(
            f"runtime_cache: expected an Engine or an iterable of Engines, "
            f"not {type(engines).__name__}"
        )
    listed = list(engines)
    for engine in listed:
        if not isinstance(engine, Engine):
            raise TypeError(f"runtime_cache: expected Engine objects, not {type(engine).__name__}")
    if not listed:
        raise InvalidArgumentError("runtime_cache: no engine given")
    return listed


def _target(path_or_stream: PathOrStream) -> Union[str, bytes, IO[bytes]]:
    """A path (``str``/``os.PathLike``) as a path, a binary file-like object as itself."""
    if isinstance(path_or_stream, (str, os.PathLike)):
        return os.fspath(path_or_stream)
    if callable(getattr(path_or_stream, "read", None)) and callable(
        getattr(path_or_stream, "write", None)
    ):
        return path_or_stream
    raise TypeError(
        "runtime_cache: the target must be a path (str or os.PathLike) or a binary "
        f"file-like object with read() and write(), not {type(path_or_stream).__name__}"
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
    nothing is read or written) or a binary file-like object with ``read`` and
    ``write``: read once, from its position, on entering, and written once,
    whole, at that same position on leaving (then truncated there, when the
    object is seekable and has ``truncate``), never appended after the old
    bytes. The stream's own exception is raised when one of those calls fails.

    All of this is rtcache::ScopedRuntimeCache, the C++ implementation, bound.
    A scope entered but never left is closed when it is collected, as the C++
    destructor does.
    """

    def __init__(
        self,
        engines: Union[Engine, Iterable[Engine]],
        path_or_stream: PathOrStream = "",
        autosave: bool = True,
    ) -> None:
        self._engines = _engine_list(engines)
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
    engines: Union[Engine, Iterable[Engine]],
    path_or_stream: PathOrStream = "",
    autosave: bool = True,
) -> RuntimeCacheScope:
    """``with runtime_cache(engines, path_or_stream) as cache:`` shares one cache.

    See RuntimeCacheScope. Raises TypeError for a target that is neither a path
    nor a file-like object, and InvalidArgumentError (a RuntimeError) when no
    engine is given.
    """
    return RuntimeCacheScope(engines, path_or_stream, autosave)
