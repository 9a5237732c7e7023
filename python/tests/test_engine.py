"""The JIT engine: NVRTC through the cache, runtime settings and warm starts (O2, O7, O8, R1)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import rtcache
from support import KERNELS, engine_config, make_engine


CLOCK_REALTIME_COARSE = 5  # Linux's; the time module does not name it


def cached(path: Path | str) -> rtcache.RuntimeCache:
    cache = rtcache.RuntimeCache(path)
    cache.load()
    return cache


def test_compiles_once_then_hits():
    engine = make_engine()
    cold = engine.kernel("scale<float>")
    assert not cold.from_cache and cold.binary and cold.lowered_name and cold.compile_ms > 0
    warm = engine.kernel("scale<float>")
    assert warm.from_cache and warm.binary == cold.binary and warm.key == cold.key
    assert warm.key == engine.key_for("scale<float>")
    assert (engine.stats.compiles, engine.stats.hits) == (1, 1)


def test_kernel_names_come_from_the_compiler():
    config = rtcache.EngineConfig()
    config.source = (
        "namespace ns { __global__ void inner(float* p) { p[0] = 1; } }\n"
        "// __global__ void commented_out() {}\n"
        "template <typename T> __global__ void scale(T* p) { p[0] *= 2; }\n"
        "template __global__ void scale<double>(double*);\n"
    )
    engine = rtcache.Engine(config, rtcache.RuntimeSettings.none())
    names = engine.kernel_names()
    assert sorted(names) == ["ns::inner", "scale<double>"]
    assert all(engine.kernel(name).binary for name in names)


def test_an_edited_header_file_is_a_miss(tmp_path):
    header = tmp_path / "params.h"
    header.write_text("#define NUM_STEPS 1\n")
    os.utime(header, (0, 0))  # long before the compile: recorded with it
    # A compile records a header changed before it began, by the clock file
    # times come from: wait (at most one tick) for that clock to pass it.
    while os.stat(header).st_ctime_ns >= time.clock_gettime_ns(CLOCK_REALTIME_COARSE):
        os.sched_yield()
    config = rtcache.EngineConfig()
    config.source = '#include "params.h"\nextern "C" __global__ void steps(int* o) { o[0] = NUM_STEPS; }\n'
    config.options = ["-I" + str(tmp_path)]
    engine = rtcache.Engine(config, rtcache.RuntimeSettings.none())
    first = engine.kernel("steps")
    assert engine.kernel("steps").from_cache
    header.write_text("#define NUM_STEPS 2\n")
    os.utime(header, (0, 0))  # same size, same mtime
    edited = engine.kernel("steps")
    assert not edited.from_cache and edited.binary != first.binary


def test_a_compile_error_carries_the_log_and_caches_nothing():
    engine = make_engine()
    with pytest.raises(rtcache.CompileError) as error:
        engine.kernel("no_such_kernel<int>")
    assert "no_such_kernel" in str(error.value)
    assert type(error.value) is rtcache.CompileError  # Status::Code::kCompileError
    assert isinstance(error.value, rtcache.InvalidArgumentError)
    assert len(engine.runtime_cache) == 0 and engine.stats.compile_failures == 1


def test_without_nvrtc_hits_still_serve_and_misses_say_why(compiled_blob):
    shared = rtcache.RuntimeCache()
    shared.deserialize(compiled_blob)
    engine = make_engine(
        rtcache.RuntimeSettings.shared(shared), nvrtc_library="/nonexistent/libnvrtc.so"
    )
    assert engine.kernel("scale<float>").from_cache
    with pytest.raises(rtcache.NotSupportedError, match="cannot compile"):
        engine.kernel("scale<double>")


def test_engine_uses_the_users_handle_object():
    """A handle has one Python identity: the engine hands back the object it was given."""
    shared = rtcache.RuntimeCache()
    engine = make_engine(rtcache.RuntimeSettings.shared(shared))
    assert engine.runtime_cache is shared
    assert engine.runtime_settings.shared_cache is shared
    private = make_engine()
    assert private.runtime_cache is private.runtime_cache


def test_swapping_settings_saves_the_prior_implicit_cache_at_once(tmp_path):
    """Original plan: the prior implicit cache is saved at once, the new one later (O8)."""
    first, second = tmp_path / "first.rtc", tmp_path / "second.rtc"
    engine = make_engine(rtcache.RuntimeSettings.path(first))
    kernel = engine.kernel("scale<float>")
    assert not first.exists()
    engine.runtime_settings = rtcache.RuntimeSettings.path(second)
    assert first.exists(), "saved by the swap, not later"
    assert kernel.key in cached(first)
    assert not second.exists(), "the new one is saved later"
    kernel = engine.kernel("scale<int>")
    handle = engine.runtime_cache
    engine.runtime_settings = rtcache.RuntimeSettings.path(second)  # same path: reused
    assert engine.runtime_cache is handle
    assert not second.exists()
    del engine, handle  # releasing the engine saves its implicit handle
    assert kernel.key in cached(second)


def test_setting_the_same_shared_handle_again_is_a_no_op():
    shared = rtcache.RuntimeCache()
    engine = make_engine(rtcache.RuntimeSettings.shared(shared))
    engine.runtime_settings = rtcache.RuntimeSettings.shared(shared)
    assert engine.runtime_cache is shared
    assert engine.runtime_settings == rtcache.RuntimeSettings.shared(shared)
    # Settings compare paths by value and handles by identity.
    assert rtcache.RuntimeSettings.path("/a") == rtcache.RuntimeSettings.path("/a")
    one, two = rtcache.RuntimeCache("/x.rtc"), rtcache.RuntimeCache("/x.rtc")
    assert rtcache.RuntimeSettings.shared(one) != rtcache.RuntimeSettings.shared(two)
    assert rtcache.RuntimeSettings.none().is_none
    assert rtcache.RuntimeSettings.path("/a").cache_path == "/a"


def test_engines_on_one_path_share_one_handle_and_each_saves_on_release(tmp_path):
    path = tmp_path / "kernels.rtc"
    a = make_engine(rtcache.RuntimeSettings.path(path))
    b = make_engine(rtcache.RuntimeSettings.path(path))
    assert a.runtime_cache is b.runtime_cache
    a.kernel("scale<float>")
    kernel = b.kernel("scale<float>")
    assert kernel.from_cache, "b finds what a compiled: one in-memory cache"
    del a
    assert kernel.key in cached(path)
    kernel = b.kernel("scale<int>")
    del b
    assert kernel.key in cached(path)


def test_engines_on_one_path_use_the_implicit_handle_for_it(tmp_path):
    path = tmp_path / "kernels.rtc"
    implicit = rtcache.RuntimeCache.implicit_for(path)
    assert rtcache.RuntimeCache.implicit_for(str(path)) is implicit
    assert implicit.autosave_on_del and implicit.exit_token != 0
    engine = make_engine(rtcache.RuntimeSettings.path(path))
    assert engine.runtime_cache is implicit


def test_default_settings_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RTCACHE_DIR", str(tmp_path / "env"))
    settings = rtcache.RuntimeSettings.from_environment()
    assert settings.is_path and settings.cache_path == str(tmp_path / "env" / "kernels.rtc")
    assert rtcache.default_cache_path() == settings.cache_path
    assert rtcache.Engine(engine_config()).runtime_settings == settings
    monkeypatch.setenv("RTCACHE_DISABLE", "1")
    assert rtcache.RuntimeSettings.from_environment().is_none


def test_bytes_loaded_before_any_engine_attaches_reach_the_engine(tmp_path, compiled_blob):
    """Original plan (warm start): O2 without a pending state (R1)."""
    path = tmp_path / "warm.rtc"
    seed = rtcache.RuntimeCache(path)
    seed.deserialize(compiled_blob)
    seed.save()
    handle = rtcache.RuntimeCache(path)
    handle.load()  # before any engine exists
    engine = make_engine(rtcache.RuntimeSettings.shared(handle))
    for name in KERNELS:
        assert engine.kernel(name).from_cache, name
    assert engine.stats.compiles == 0


def test_a_warm_process_finds_every_kernel_the_cold_process_compiled(tmp_path, run_python):
    """Original plan (warm start), as two real processes with engine-implicit handles.

    Each child keeps its engine in a module global until the interpreter exits:
    the implicit handle is saved at exit, with nothing printed.
    """
    path = tmp_path / "kernels.rtc"
    script = f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import rtcache
        from support import KERNELS, make_engine
        engine = make_engine(rtcache.RuntimeSettings.path({str(path)!r}))
        print(" ".join(str(engine.kernel(name).from_cache) for name in KERNELS))
        print(engine.stats.compiles)
    """
    cold = run_python(script)
    assert cold.returncode == 0 and cold.stderr == "", cold.stderr
    assert cold.stdout.split("\n")[:2] == [" ".join(["False"] * len(KERNELS)), str(len(KERNELS))]
    warm = run_python(script)
    assert warm.returncode == 0 and warm.stderr == "", warm.stderr
    assert warm.stdout.split("\n")[:2] == [" ".join(["True"] * len(KERNELS)), "0"]


def test_threads_compile_each_kernel_once():
    engine = make_engine()
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(6):
                engine.kernel(KERNELS[(offset + i) % len(KERNELS)])
        except BaseException as error:  # noqa: BLE001 -- reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert engine.stats.compiles == len(KERNELS)
