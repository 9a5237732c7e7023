"""Finding the engines under a target: ``runtime_cache()`` and ``runtime_config()`` take
an Engine, any iterable of targets, or an object that holds engines.

The protocol, in the order it is tried for each object met:

1. an ``Engine`` is itself;
2. an object whose type defines ``rtcache_engines()`` is what that returns (an
   iterable of targets): the explicit way for a model to name its engines;
3. a ``dict`` (any Mapping) is its values; a list, tuple, set or frozenset its
   items; any other iterable given at the top level is iterated once;
4. any other object is the values of its attributes (``vars(obj)``), so a model
   that keeps engines in attributes, or in containers held by attributes (as
   ``torch.nn.Module`` keeps submodules in ``_modules``), is walked.

The walk is bounded: at most ``MAX_DEPTH`` levels below the target and
``MAX_OBJECTS`` objects in all, each object visited once (cycles end), and
strings, numbers, bytes, functions, classes and modules are not entered. Engines
are returned in the order found, each once.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping

from ._rtcache import Engine, InvalidArgumentError

MAX_DEPTH = 16
MAX_OBJECTS = 100_000

_NOT_ENTERED = (
    str,
    bytes,
    bytearray,
    memoryview,
    int,
    float,
    complex,
    bool,
    type(None),
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
)
_CONTAINERS = (list, tuple, set, frozenset)


def _children(obj: object, top: bool) -> list[object]:
    named = getattr(type(obj), "rtcache_engines", None)
    if callable(named):
        return list(obj.rtcache_engines())  # type: ignore[attr-defined]
    if isinstance(obj, Mapping):
        return list(obj.values())
    if isinstance(obj, _CONTAINERS) or (top and isinstance(obj, Iterable)):
        return list(obj)  # type: ignore[arg-type]
    try:
        return list(vars(obj).values())
    except TypeError:  # no __dict__
        return []


def engines_of(targets: object, who: str) -> list[Engine]:
    """Every Engine under ``targets``; InvalidArgumentError (a RuntimeError) when none is."""
    found: list[Engine] = []
    seen: set[int] = set()
    visited = 0
    stack: list[tuple[object, int]] = [(targets, 0)]
    while stack and visited < MAX_OBJECTS:
        obj, depth = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, Engine):
            found.append(obj)
            continue
        if depth >= MAX_DEPTH or isinstance(obj, _NOT_ENTERED):
            continue
        visited += 1
        children = _children(obj, top=depth == 0)
        stack.extend((child, depth + 1) for child in reversed(children))
    if not found:
        raise InvalidArgumentError(
            f"{who}: no engine found under the target ({type(targets).__name__}): give an "
            "Engine, an iterable of targets, or an object that holds engines (attributes, "
            "or a method rtcache_engines())"
        )
    return found
