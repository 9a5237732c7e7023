"""Helpers shared by the rtcache Python tests (fixtures live in conftest.py)."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import rtcache

# A small CUDA C++ module (NVRTC needs no GPU to compile it).
KERNEL_SOURCE = r"""
template <typename T>
__global__ void scale(T* x, T factor, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= factor;
}

extern "C" __global__ void vector_add(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}
"""
KERNELS = ["scale<float>", "scale<int>", "vector_add"]


def engine_config(**overrides: object) -> rtcache.EngineConfig:
    config = rtcache.EngineConfig(KERNEL_SOURCE, name="test_module", options=["-std=c++17"])
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


def make_engine(
    settings: rtcache.RuntimeSettings | None = None, **overrides: object
) -> rtcache.Engine:
    if settings is None:
        settings = rtcache.RuntimeSettings.none()
    return rtcache.Engine(engine_config(**overrides), settings)


def key(i: int) -> str:
    return f"k{i}"


def value(i: int) -> bytes:
    return (f"value-of:k{i};" * 32).encode()


def put_keys(cache: rtcache.RuntimeCache, n: int) -> None:
    for i in range(n):
        cache.put(key(i), value(i))


def assert_file_holds_keys(path: os.PathLike[str] | str, n: int) -> None:
    """A fresh handle on `path` holds exactly k0..k<n-1> with their values."""
    cache = rtcache.RuntimeCache(path)
    cache.load()
    assert len(cache) == n
    for i in range(n):
        assert cache.get(key(i)) == value(i), key(i)


def damaged_cache_file(path: Path, key: str = "victim", size: int = 4096) -> bytes:
    """Saves one uncompressed entry to `path`, then flips a byte of its value in the file.

    Returns the intact value. Loading the file works (the index is intact); reading
    the value fails its checksum.
    """
    intact = b"V" * size
    cache = rtcache.RuntimeCache(path, compression=rtcache.Compression.NONE)
    cache.put(key, intact)
    cache.save()
    data = bytearray(path.read_bytes())
    data[data.find(intact) + size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return intact


def unsavable_path(tmp_path: Path) -> Path:
    """A cache path whose parent is a regular file: saving fails (also for root)."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"x")
    return blocker / "cache.rtc"


def python_path() -> str:
    """PYTHONPATH for a child interpreter that must import this rtcache."""
    package_root = str(Path(rtcache.__file__).resolve().parent.parent)
    inherited = os.environ.get("PYTHONPATH", "")
    return package_root + (os.pathsep + inherited if inherited else "")


def registry_baseline() -> int:
    """exit_registry_size() once garbage from earlier tests has been collected."""
    gc.collect()
    return rtcache.exit_registry_size()
