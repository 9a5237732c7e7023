"""The original's API shapes: RuntimeSettings as a value, runtime_config(), targets that
hold engines, handles that take attributes, and an engine that saves once."""

from __future__ import annotations

import copy
import ctypes
import io
import os
import pickle
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import rtcache
from support import assert_file_holds_keys, make_engine, put_keys, python_path

# --- RuntimeSettings, a value ------------------------------------------------------------------


def test_settings_are_built_from_runtime_cache_like_the_originals(tmp_path):
    path = tmp_path / "k.rtc"
    handle = rtcache.RuntimeCache()
    assert rtcache.RuntimeSettings() == rtcache.RuntimeSettings.none()
    assert rtcache.RuntimeSettings(runtime_cache=None).is_none
    assert rtcache.RuntimeSettings(runtime_cache="") == rtcache.RuntimeSettings.none()
    assert rtcache.RuntimeSettings.path("") == rtcache.RuntimeSettings.none()
    assert rtcache.RuntimeSettings(runtime_cache=path) == rtcache.RuntimeSettings.path(str(path))
    assert rtcache.RuntimeSettings(runtime_cache=path).runtime_cache == str(path)
    shared = rtcache.RuntimeSettings(runtime_cache=handle)
    assert shared == rtcache.RuntimeSettings.shared(handle) and shared.runtime_cache is handle
    assert rtcache.RuntimeSettings().runtime_cache is None
    with pytest.raises(TypeError, match="runtime_cache must be None, a path"):
        rtcache.RuntimeSettings(runtime_cache=42)


def test_settings_compare_and_hash_by_value_and_handles_by_identity(tmp_path):
    a, b = rtcache.RuntimeCache(), rtcache.RuntimeCache()
    p = str(tmp_path / "k.rtc")
    assert rtcache.RuntimeSettings(runtime_cache=p) == rtcache.RuntimeSettings(runtime_cache=p)
    assert len({rtcache.RuntimeSettings(runtime_cache=p), rtcache.RuntimeSettings.path(p)}) == 1
    assert rtcache.RuntimeSettings(runtime_cache=a) != rtcache.RuntimeSettings(runtime_cache=b)
    assert rtcache.RuntimeSettings(runtime_cache=a) == rtcache.RuntimeSettings(runtime_cache=a)
    assert repr(rtcache.RuntimeSettings(runtime_cache=p)) == f"RuntimeSettings(runtime_cache={p!r})"
    assert repr(rtcache.RuntimeSettings()) == "RuntimeSettings(runtime_cache=None)"


def test_merge_replaces_fields_and_refuses_unknown_ones(tmp_path):
    base = rtcache.RuntimeSettings(runtime_cache=tmp_path / "a.rtc")
    merged = base.merge(runtime_cache=tmp_path / "b.rtc")
    assert merged.runtime_cache == str(tmp_path / "b.rtc")
    assert base.runtime_cache == str(tmp_path / "a.rtc"), "a value: merge makes a copy"
    assert base.merge() == base
    assert base.merge(runtime_cache=None).is_none
    with pytest.raises(TypeError, match="unknown setting 'timing_cache'"):
        base.merge(timing_cache="x")


def test_settings_pickle_paths_as_paths_and_handles_as_new_handles(tmp_path):
    p = str(tmp_path / "k.rtc")
    for settings in (rtcache.RuntimeSettings(), rtcache.RuntimeSettings(runtime_cache=p)):
        assert pickle.loads(pickle.dumps(settings)) == settings
    handle = rtcache.RuntimeCache(tmp_path / "h.rtc")
    put_keys(handle, 3)
    copied = pickle.loads(pickle.dumps(rtcache.RuntimeSettings(runtime_cache=handle)))
    assert copied.is_shared and copied.runtime_cache is not handle
    assert len(copied.runtime_cache) == 3 and copied.runtime_cache.path == handle.path


def test_engines_pickle_as_their_config_and_settings(tmp_path):
    engine = make_engine(rtcache.RuntimeSettings(runtime_cache=tmp_path / "e.rtc"))
    copied = pickle.loads(pickle.dumps(engine))
    assert copied is not engine
    assert copied.config.source == engine.config.source and copied.config.name == "test_module"
    assert copied.config.options == ["-std=c++17"]
    assert copied.runtime_settings == engine.runtime_settings
    assert copied.runtime_cache is engine.runtime_cache, "one implicit handle per path"


# --- handles take attributes -------------------------------------------------------------------


def test_a_test_double_can_replace_save_on_an_instance(tmp_path):
    cache = rtcache.RuntimeCache(tmp_path / "c.rtc")
    calls = []
    cache.save = lambda *args: calls.append(args)  # the original's tests count saves so
    cache.note = "warm at build"
    cache.save()
    assert calls == [()] and cache.note == "warm at build"
    assert not (tmp_path / "c.rtc").exists(), "the double ran, not the method"
    del cache.save
    put_keys(cache, 1)
    cache.save()
    assert_file_holds_keys(tmp_path / "c.rtc", 1)


def test_attributes_survive_pickle_and_never_change_what_the_exit_hook_calls(
    tmp_path, run_python
):
    cache = rtcache.RuntimeCache(tmp_path / "c.rtc")
    cache.owner = "server-7"
    assert pickle.loads(pickle.dumps(cache)).owner == "server-7"
    assert "attributes" not in rtcache.RuntimeCache().__getstate__()
    path = tmp_path / "exit.rtc"
    result = run_python(
        f"""
        import rtcache
        cache = rtcache.RuntimeCache({str(path)!r}, autosave_on_del=True)
        cache.put("k0", b"v")
        cache.save = lambda: print("double called")
        """
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "double called" not in result.stdout
    saved = rtcache.RuntimeCache(path)
    saved.load()
    assert "k0" in saved


# --- targets -----------------------------------------------------------------------------------


class Model:
    """Keeps engines in attributes and containers, as a model does; has a cycle."""

    def __init__(self) -> None:
        self.encoder = make_engine()
        self.blocks = {"attention": [make_engine()], "empty": []}
        self.parent = self
        self.name = "model"


class Named:
    """Names its engines itself."""

    def __init__(self, *engines: rtcache.Engine) -> None:
        self.hidden = engines

    def rtcache_engines(self):
        return self.hidden[:1]


def test_engines_are_found_under_models_containers_and_the_protocol():
    model = Model()
    found = rtcache.engines_of(model, "test")
    assert found == [model.encoder, model.blocks["attention"][0]]
    first, second = make_engine(), make_engine()
    assert rtcache.engines_of(Named(first, second), "test") == [first]
    assert rtcache.engines_of([first, (first, second), {"x": second}], "test") == [first, second]
    assert rtcache.engines_of(iter([second]), "test") == [second]
    with pytest.raises(RuntimeError, match="no engine found"):
        rtcache.engines_of(Named(), "test")


def test_a_deep_or_huge_object_graph_ends():
    deep: list[object] = [make_engine()]
    for _ in range(rtcache._targets.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(RuntimeError, match="no engine found"):
        rtcache.engines_of(deep, "test")
    wide = [list(range(50)) for _ in range(5000)] + [make_engine()]
    assert len(rtcache.engines_of(wide, "test")) == 1


# --- runtime_config ----------------------------------------------------------------------------


def test_runtime_config_yields_the_targets_and_restores_their_settings(tmp_path):
    path = tmp_path / "scoped.rtc"
    a = make_engine(rtcache.RuntimeSettings(runtime_cache=tmp_path / "own.rtc"))
    b = make_engine()
    before = (a.runtime_settings, b.runtime_settings)
    with rtcache.runtime_config([a, b], runtime_cache=path) as (x, y):
        assert (x, y) == (a, b)
        assert a.runtime_cache is b.runtime_cache
        put_keys(a.runtime_cache, 2)
        shared = a.runtime_cache
    assert (a.runtime_settings, b.runtime_settings) == before
    assert shared.stats.saves == 1, "saved once, where it was loaded from"
    assert_file_holds_keys(path, 2)
    model = Model()
    with rtcache.runtime_config(model, runtime_cache=path) as same:
        assert same is model and model.encoder.runtime_cache is model.blocks["attention"][0].runtime_cache
        assert len(model.encoder.runtime_cache) == 2


def test_runtime_config_takes_a_handle_a_stream_or_none(tmp_path):
    engine = make_engine()
    handle = rtcache.RuntimeCache(tmp_path / "h.rtc")
    with rtcache.runtime_config(engine, runtime_cache=handle):
        assert engine.runtime_cache is handle
        put_keys(engine.runtime_cache, 1)
    assert handle.stats.saves == 0, "a handle given is its owner's to save"
    stream = io.BytesIO()
    with rtcache.runtime_config(engine, runtime_cache=stream):
        put_keys(engine.runtime_cache, 2)
    restored = rtcache.RuntimeCache()
    restored.deserialize(stream.getvalue())
    assert len(restored) == 2
    with rtcache.runtime_config(engine, runtime_cache=None):
        assert len(engine.runtime_cache) == 0 and engine.runtime_cache.path == ""
    with rtcache.runtime_config(engine) as same:  # no overrides: nothing changes
        assert same is engine
    assert list(tmp_path.iterdir()) == []


def test_runtime_config_refuses_unknown_settings_and_targets_without_engines():
    with pytest.raises(TypeError, match="unknown setting 'cache'"):
        rtcache.runtime_config(make_engine(), cache="x")
    config = rtcache.runtime_config(object(), runtime_cache="")  # raises on entering
    with pytest.raises(RuntimeError, match="no engine found"):
        with config:
            pass


# --- an engine saves its implicit handle once --------------------------------------------------

_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""

_SCENARIOS = {
    "destroyed": "engine = make(); engine.runtime_cache.put('k', b'v'); del engine",
    "swapped": (
        "engine = make(); engine.runtime_cache.put('k', b'v'); "
        "engine.runtime_settings = rtcache.RuntimeSettings()"
    ),
    "interpreter exit": "engine = make(); engine.runtime_cache.put('k', b'v')",
}

IN_OPEN = 0x20


class LockOpens:
    """Counts the opens of files (by any process) with inotify, through ctypes."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        self.watches: dict[int, str] = {}
        self.opens: dict[str, int] = {}

    def watch(self, path: str) -> None:
        wd = self._libc.inotify_add_watch(self.fd, path.encode(), IN_OPEN)
        assert wd >= 0, os.strerror(ctypes.get_errno())
        self.watches[wd] = path
        self.opens[path] = 0

    def drain(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            at = 0
            while at < len(data):
                wd, mask, _cookie, length = struct.unpack_from("iIII", data, at)
                at += 16 + length
                if mask & IN_OPEN:
                    self.opens[self.watches[wd]] += 1


def test_an_engine_saves_its_implicit_handle_once_while_another_process_holds_the_lock(
    tmp_path,
):
    """Destroyed, swapped away, or alive at exit: one attempt (one lock timeout), one warning.

    Before, the engine saved, timed out, and the handle's own autosave tried again:
    two attempts, two warnings, twice the wait. The scenarios run side by side.
    """
    env = dict(os.environ, PYTHONPATH=python_path(), PYTHONDONTWRITEBYTECODE="1")
    opens = LockOpens()
    holders, children = {}, {}
    for n, (name, body) in enumerate(_SCENARIOS.items()):
        path = str(tmp_path / f"scenario{n}.rtc")
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, path + ".lock"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert holder.stdout.readline() == "locked\n"
        holders[name] = holder
        opens.watch(path + ".lock")
        script = textwrap.dedent(
            f"""
            import rtcache
            def make():
                return rtcache.Engine(rtcache.EngineConfig("", name="save_once"),
                                      rtcache.RuntimeSettings(runtime_cache={path!r}))
            {body}
            print("done", flush=True)
            """
        )
        children[name] = (path, subprocess.Popen(
            [sys.executable, "-c", script], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    try:
        for name, (path, child) in children.items():
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0 and out == "done\n", (name, err)
            warnings = [line for line in err.splitlines() if path in line]
            assert len(warnings) == 1, (name, err)
            assert "lock" in warnings[0].lower(), (name, err)
        opens.drain()
        for name, (path, _child) in children.items():
            assert opens.opens[path + ".lock"] == 1, (name, opens.opens)
    finally:
        for holder in holders.values():
            holder.stdin.close()
            holder.wait(timeout=60)
            holder.stdout.close()
        os.close(opens.fd)
