"""The GIL is released while rtcache waits for the file lock and saves.

Deterministic: this thread holds the cache's file lock and can let it go only
by running Python code while the other thread is inside rtcache. Had rtcache
kept the GIL, this thread could not run, and the save would fail with a lock
timeout instead.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Callable

import rtcache
from support import assert_file_holds_keys, make_engine, put_keys


def descriptors_open_on(path: str) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == path:
                count += 1
        except OSError:
            pass  # closed meanwhile
    return count


def run_while_holding_the_lock(cache_path: Path, action: Callable[[], None]) -> list[BaseException]:
    """Runs `action` on another thread while this one holds the file lock."""
    lock_path = os.path.realpath(f"{cache_path}.lock")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:  # noqa: BLE001 -- reported by the caller
            errors.append(error)

    with open(lock_path, "wb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        worker = threading.Thread(target=run)
        worker.start()
        # Once the worker has opened the lock file it is inside rtcache, waiting.
        deadline = time.monotonic() + 20
        while descriptors_open_on(lock_path) < 2 and worker.is_alive():
            assert time.monotonic() < deadline, "the worker never reached the lock"
        fcntl.flock(holder, fcntl.LOCK_UN)
    worker.join()
    return errors


def test_save_releases_the_gil(tmp_path):
    path = tmp_path / "cache.rtc"
    cache = rtcache.RuntimeCache(path, lock_timeout=20)
    put_keys(cache, 3)
    assert run_while_holding_the_lock(path, cache.save) == []
    assert cache.stats.saves == 1


def test_the_autosave_of_a_dropped_handle_releases_the_gil(tmp_path):
    path = tmp_path / "cache.rtc"
    handles = [rtcache.RuntimeCache(path, autosave_on_del=True, lock_timeout=20)]
    put_keys(handles[0], 3)
    # The worker drops the last reference: the destructor saves on its thread.
    assert run_while_holding_the_lock(path, handles.clear) == []
    assert_file_holds_keys(path, 3)


def test_dropping_an_engine_releases_the_gil_while_it_saves(tmp_path):
    path = tmp_path / "cache.rtc"
    engine = make_engine(rtcache.RuntimeSettings.path(path))
    put_keys(engine.runtime_cache, 3)  # ~Engine saves its implicit handle
    engines = [engine]
    del engine
    assert run_while_holding_the_lock(path, engines.clear) == []
    assert_file_holds_keys(path, 3)


def test_closing_a_scoped_cache_releases_the_gil(tmp_path):
    """rtcache::ScopedRuntimeCache saves without the GIL (the bound close())."""
    path = tmp_path / "cache.rtc"
    scope = rtcache.runtime_cache(make_engine(), path)
    with scope as shared:
        put_keys(shared, 3)
        assert run_while_holding_the_lock(path, scope.close) == []
    assert_file_holds_keys(path, 3)
