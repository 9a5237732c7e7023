"""The scoped, shared runtime cache: ``with rtcache.runtime_cache(engines, target) as cache:``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from types import TracebackType
from typing import IO, Optional, Union

from ._rtcache import Engine, InvalidArgumentError, RuntimeCache, RuntimeSettings

_logger = logging.getLogger("rtcache")

PathOrStream = Union[str, "os.PathLike[str]", IO[bytes]]


def _engine_list(engines: Union[Engine, Iterable[Engine]]) -> list[Engine]:
    """The engines, each once, in order; TypeError for anything that is not one."""
    if isinstance(engines, Engine):
        engines = [engines]
    elif not isinstance(engines, Iterable) or isinstance(engines, (str, bytes)):
        raise TypeError(
            f"runtime_cache: expected an Engine or an iterable of Engines, "
            f"not {type(engines).__name__}"
        )
    unique: list[Engine] = []
    for engine in engines:
        if not isinstance(engine, Engine):
            raise TypeError(f"runtime_cache: expected Engine objects, not {type(engine).__name__}")
        if not any(engine is seen for seen in unique):
            unique.append(engine)
    if not unique:
        raise InvalidArgumentError("runtime_cache: no engine given")
    return unique


def _is_stream(target: object) -> bool:
    return callable(getattr(target, "read", None)) and callable(getattr(target, "write", None))


class RuntimeCacheScope:
    """One cache shared by several engines for the duration of a ``with`` block.

    Entering makes one handle (autosave off), loads it from the target and
    attaches it to every engine. Leaving gives each engine its previous runtime
    settings back and then, with ``autosave``, saves the handle once. A save
    failure there is logged as a warning (logger ``rtcache``) and never raised,
    so it cannot mask an exception leaving the block.

    The target is a path (``str`` or ``os.PathLike``), ``""`` (memory only:
    nothing is read or written) or a binary file-like object with ``read`` and
    ``write``: read once, from its position, on entering, and written once,
    whole, at that same position on leaving (then truncated there, when the
    object supports it), never appended after the old bytes.
    """

    def __init__(
        self,
        engines: Union[Engine, Iterable[Engine]],
        path_or_stream: PathOrStream = "",
        autosave: bool = True,
    ) -> None:
        self._engines = _engine_list(engines)
        if isinstance(path_or_stream, (str, os.PathLike)):
            self._path = os.fsdecode(path_or_stream)
            self._stream: Optional[IO[bytes]] = None
        elif _is_stream(path_or_stream):
            self._path = ""
            self._stream = path_or_stream  # type: ignore[assignment]
        else:
            raise TypeError(
                "runtime_cache: the target must be a path (str or os.PathLike) or a binary "
                f"file-like object with read() and write(), not {type(path_or_stream).__name__}"
            )
        self._autosave = autosave
        self._cache: Optional[RuntimeCache] = None
        self._previous: list[tuple[Engine, RuntimeSettings]] = []
        self._stream_start: Optional[int] = None
        self._closed = False

    @property
    def cache(self) -> Optional[RuntimeCache]:
        """The shared handle (None before entering)."""
        return self._cache

    def __enter__(self) -> RuntimeCache:
        if self._cache is not None:
            raise RuntimeError("runtime_cache: a scope can be entered only once")
        cache = RuntimeCache(self._path)
        if self._stream is None:
            cache.load()
        else:
            seekable = getattr(self._stream, "seekable", None)
            if seekable is not None and seekable():
                self._stream_start = self._stream.tell()
            cache.load_from_stream(self._stream)
        self._cache = cache
        shared = RuntimeSettings.shared(cache)
        try:
            for engine in self._engines:
                self._previous.append((engine, engine.runtime_settings))
                engine.runtime_settings = shared
        except BaseException:
            self._restore()
            raise
        return cache

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        try:
            self.close()
        except Exception as error:  # noqa: BLE001 -- a failed save is a warning here
            _logger.warning("saving the scoped runtime cache failed: %s", error)

    def close(self) -> None:
        """Restores the engines and saves now (raising on failure); later calls do nothing."""
        if self._closed or self._cache is None:
            return
        self._closed = True
        self._restore()
        if self._autosave:
            self._save(self._cache)

    def _restore(self) -> None:
        while self._previous:
            engine, settings = self._previous.pop()
            engine.runtime_settings = settings

    def _save(self, cache: RuntimeCache) -> None:
        if self._stream is None:
            cache.save()
            return
        stream = self._stream
        if self._stream_start is not None:
            stream.seek(self._stream_start)
        cache.save_to_stream(stream)
        if self._stream_start is not None and callable(getattr(stream, "truncate", None)):
            stream.truncate()
        if callable(getattr(stream, "flush", None)):
            stream.flush()


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
