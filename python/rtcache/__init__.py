"""rtcache: a persistent, multi-process cache for JIT-compiled GPU kernels.

Python bindings of the C++ library (include/rtcache/*.h are the reference).

- RuntimeCache: a handle on one cache file (or an in-memory cache). Saving
  merges into the file under an inter-process lock; with autosave_on_del the
  handle saves itself once, when it is destroyed or when the process exits.
- Engine, EngineConfig, RuntimeSettings, Kernel: CUDA C++ compiled at run time
  with NVRTC, through a RuntimeCache.
- runtime_cache(engines, target): one cache shared by several engines for the
  duration of a ``with`` block; runtime_config(targets, runtime_cache=target)
  the same in the original's shape (it yields the targets). Targets are engines,
  iterables of targets, or objects holding engines (engines_of()).
- Handles take attributes; RuntimeSettings is a value (RuntimeSettings(
  runtime_cache=None | path | handle), merge(), pickle); Engines pickle.

Errors: each C++ Status code raises one class (exception_for(code); the
table is in the extension), derived from RuntimeCacheError (a RuntimeError)
and from the built-in exception that fits: CacheIOError (OSError),
LockTimeoutError (TimeoutError), CachePermissionError (PermissionError),
CorruptionError and InvalidArgumentError (ValueError), NotACacheFileError
(CorruptionError), CompileError (InvalidArgumentError), NotSupportedError
(NotImplementedError), NotFoundError (LookupError). A damaged value makes
RuntimeCache.get() raise CorruptionError, as in C++.

Sizes (max_bytes, ...) are bytes or strings such as "512MiB"; durations
(lock_timeout, ...) are seconds, a timedelta or strings such as "1500ms": the
grammar of the C++ library and the CLI (parse_byte_size, parse_duration).

rtcache's warnings (a failed autosave, a damaged record skipped) go to the
``rtcache`` logger while the interpreter runs, and to stderr after it has
begun shutting down.
"""

from ._rtcache import (
    CacheIOError,
    CachePermissionError,
    CacheStats,
    CompileError,
    Compression,
    CorruptionError,
    Engine,
    EngineConfig,
    EngineStats,
    EntryInfo,
    FileReport,
    InvalidArgumentError,
    Kernel,
    LockTimeoutError,
    LogLevel,
    NotACacheFileError,
    NotFoundError,
    NotSupportedError,
    RuntimeCache,
    RuntimeCacheError,
    RuntimeSettings,
    StatusCode,
    __version__,
    default_cache_path,
    exception_for,
    exit_registry_size,
    inspect_file,
    log_level,
    parse_byte_size,
    parse_duration,
    save_on_signals,
    set_log_level,
)
from ._scope import RuntimeCacheScope, RuntimeConfig, runtime_cache, runtime_config
from ._targets import engines_of

__all__ = [
    "CacheIOError",
    "CachePermissionError",
    "CacheStats",
    "CompileError",
    "Compression",
    "CorruptionError",
    "Engine",
    "EngineConfig",
    "EngineStats",
    "EntryInfo",
    "FileReport",
    "InvalidArgumentError",
    "Kernel",
    "LockTimeoutError",
    "LogLevel",
    "NotACacheFileError",
    "NotFoundError",
    "NotSupportedError",
    "RuntimeCache",
    "RuntimeCacheError",
    "RuntimeCacheScope",
    "RuntimeConfig",
    "RuntimeSettings",
    "StatusCode",
    "__version__",
    "default_cache_path",
    "engines_of",
    "exception_for",
    "exit_registry_size",
    "inspect_file",
    "log_level",
    "parse_byte_size",
    "parse_duration",
    "runtime_cache",
    "runtime_config",
    "save_on_signals",
    "set_log_level",
]
