"""The RuntimeCache handle: entries, bytes, files, streams and errors (O1, O3-O6, R3, R7)."""

from __future__ import annotations

import fcntl
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import rtcache
from support import assert_file_holds_keys, key, put_keys, unsavable_path, value


def test_entries_in_memory():
    cache = rtcache.RuntimeCache()
    assert cache.path == "" and len(cache) == 0 and bool(cache)
    cache.put("a", b"alpha", "made by test")
    cache.put(b"b\xff", memoryview(b"beta"))  # bytes keys, any bytes-like value
    cache.put("c", bytearray(b"gamma"))
    assert len(cache) == 3
    assert cache.get("a") == b"alpha" and cache.get(b"b\xff") == b"beta"
    assert cache.get("missing") is None and cache.get("missing", b"") == b""
    assert "a" in cache and "missing" not in cache
    assert [(e.key, e.value_size) for e in cache.entries()] == [("a", 5), (b"b\xff", 4), ("c", 5)]
    assert cache.entries()[0].metadata == "made by test"
    assert cache.erase("a") is True and cache.erase("a") is False
    stats = cache.stats
    assert (stats.entries, stats.puts, stats.erases, stats.hits) == (2, 3, 1, 2)
    cache.reset()
    assert len(cache) == 0
    with pytest.raises(TypeError):
        cache.put("k", "a str is not bytes")


def test_handles_compare_by_identity_never_by_path(tmp_path):
    """O1: two handles on one path are two caches."""
    path = tmp_path / "cache.rtc"
    a, b = rtcache.RuntimeCache(path), rtcache.RuntimeCache(path)
    assert a == a and a != b and hash(a) != hash(b)
    assert len({a, b, a}) == 2
    a.put("only-in-a", b"1")
    assert "only-in-a" not in b


def test_repr_shows_path_autosave_and_entry_count(tmp_path):
    cache = rtcache.RuntimeCache(tmp_path / "c.rtc", autosave_on_del=True)
    put_keys(cache, 3)
    expected = f"RuntimeCache(path={str(tmp_path / 'c.rtc')!r}, autosave_on_del=True, entries=3)"
    assert repr(cache) == expected
    cache.autosave_on_del = False
    assert repr(rtcache.RuntimeCache()) == "RuntimeCache(path='', autosave_on_del=False, entries=0)"


def test_options_are_kept(tmp_path):
    cache = rtcache.RuntimeCache(
        tmp_path / "c.rtc", lock_timeout=2.5, compression=rtcache.Compression.NONE, file_mode=0o640
    )
    assert cache.options["lock_timeout"] == 2.5
    assert cache.options["compression"] == rtcache.Compression.NONE
    assert cache.options["file_mode"] == 0o640
    with pytest.raises(ValueError):
        rtcache.RuntimeCache(lock_timeout=-1)


def test_serialize_deserialize_and_reset():
    """O3: serialize() is the whole cache; empty input is a no-op; reset() clears."""
    source = rtcache.RuntimeCache()
    put_keys(source, 10)
    blob = source.serialize()
    target = rtcache.RuntimeCache()
    target.deserialize(blob)
    assert len(target) == 10 and target.get(key(9)) == value(9)
    target.deserialize(b"")
    assert len(target) == 10
    with pytest.raises(rtcache.CorruptionError):
        target.deserialize(b"garbage" * 20)
    assert len(target) == 10, "bad bytes leave the cache unchanged"
    target.reset()
    assert len(target) == 0


def test_load_and_save_are_no_ops_without_a_target_or_a_file(tmp_path):
    """O4/O5: no target, or no file yet (first run): nothing happens."""
    memory = rtcache.RuntimeCache()
    put_keys(memory, 2)
    memory.load()
    memory.save()
    assert len(memory) == 2
    first_run = rtcache.RuntimeCache(tmp_path / "absent" / "cache.rtc")
    first_run.load()
    assert len(first_run) == 0
    first_run.save()  # nothing changed: no file
    assert not (tmp_path / "absent").exists()


def test_save_creates_the_directory_and_load_reads_it_back(tmp_path):
    path = tmp_path / "a" / "b" / "cache.rtc"
    cache = rtcache.RuntimeCache(path)
    put_keys(cache, 10)
    cache.save()
    assert cache.stats.saves == 1
    assert_file_holds_keys(path, 10)
    assert (path.stat().st_mode & 0o777) == 0o600


def test_explicit_paths_for_load_and_save(tmp_path):
    cache = rtcache.RuntimeCache()
    put_keys(cache, 4)
    cache.save(tmp_path / "other.rtc")
    fresh = rtcache.RuntimeCache()
    fresh.load(str(tmp_path / "other.rtc"))
    assert len(fresh) == 4


def test_saves_merge_instead_of_overwriting(tmp_path):
    """R3 (fixes D1): two handles on one file both keep their kernels."""
    path = tmp_path / "cache.rtc"
    a, b = rtcache.RuntimeCache(path), rtcache.RuntimeCache(path)
    a.put("from-a", b"1")
    b.put("from-b", b"2")
    a.save()
    b.save()
    merged = rtcache.RuntimeCache(path)
    merged.load()
    assert merged.get("from-a") == b"1" and merged.get("from-b") == b"2"


def test_an_empty_cache_never_replaces_a_file(tmp_path):
    """O5/R7: a save never loses what is on disk."""
    path = tmp_path / "cache.rtc"
    full = rtcache.RuntimeCache(path)
    put_keys(full, 5)
    full.save()
    rtcache.RuntimeCache(path).save()
    assert_file_holds_keys(path, 5)


def test_errors_name_the_file_and_the_reason(tmp_path):
    target = unsavable_path(tmp_path)
    cache = rtcache.RuntimeCache(target)
    put_keys(cache, 1)
    with pytest.raises(rtcache.CacheIOError) as io_error:
        cache.save()
    assert str(target.parent) in str(io_error.value)
    assert isinstance(io_error.value, OSError)
    assert isinstance(io_error.value, rtcache.RuntimeCacheError)
    assert cache.stats.save_failures == 1 and len(cache) == 1, "the changes are kept"


def test_a_held_lock_times_out_with_a_clear_error(tmp_path):
    path = tmp_path / "cache.rtc"
    cache = rtcache.RuntimeCache(path, lock_timeout=0.05)
    put_keys(cache, 1)
    with open(f"{path}.lock", "wb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(rtcache.LockTimeoutError) as timeout:
            cache.save()
    assert isinstance(timeout.value, TimeoutError)
    assert f"{path}.lock" in str(timeout.value)
    cache.save()  # the lock is free again
    assert_file_holds_keys(path, 1)


# --- streams (original plan: "streams") --------------------------------------------------


def test_stream_round_trip_through_bytes_io():
    """O6: the count loaded equals the count saved."""
    source = rtcache.RuntimeCache()
    put_keys(source, 8)
    stream = io.BytesIO()
    written = source.save_to_stream(stream)
    assert written == len(stream.getvalue()) > 0
    stream.seek(0)
    target = rtcache.RuntimeCache()
    assert target.load_from_stream(stream) == written
    assert len(target) == 8 and target.get(key(7)) == value(7)
    assert target.load_from_stream(io.BytesIO()) == 0, "an empty stream is a no-op"


def test_stream_round_trip_through_an_open_file(tmp_path):
    source = rtcache.RuntimeCache()
    put_keys(source, 8)
    with open(tmp_path / "stream.bin", "wb") as f:
        written = source.save_to_stream(f)
    assert (tmp_path / "stream.bin").stat().st_size == written
    target = rtcache.RuntimeCache()
    with open(tmp_path / "stream.bin", "rb") as f:
        assert target.load_from_stream(f) == written
    assert len(target) == 8


def test_stream_writes_all_bytes_through_short_writes():
    class Trickle(io.RawIOBase):
        def __init__(self):
            self.data = bytearray()

        def writable(self):
            return True

        def write(self, b):
            chunk = bytes(b[:1000])
            self.data += chunk
            return len(chunk)

    source = rtcache.RuntimeCache()
    put_keys(source, 8)
    sink = Trickle()
    written = source.save_to_stream(sink)
    assert written == len(sink.data) > 1000
    copy = rtcache.RuntimeCache()
    copy.deserialize(bytes(sink.data))
    assert len(copy) == 8 and copy.get(key(7)) == value(7)


def test_unsupported_stream_targets_are_rejected():
    cache = rtcache.RuntimeCache()
    with pytest.raises(TypeError, match="file-like"):
        cache.save_to_stream(42)
    with pytest.raises(TypeError, match="file-like"):
        cache.load_from_stream("a path is not a stream")
    with pytest.raises(TypeError, match="binary mode"):
        cache.load_from_stream(io.StringIO("text"))
    with pytest.raises(TypeError):
        cache.save_to_stream(io.StringIO())


def test_paths_may_be_str_or_path_like(tmp_path):
    for target in (str(tmp_path / "s.rtc"), tmp_path / "p.rtc", os.fsencode(tmp_path / "b.rtc")):
        cache = rtcache.RuntimeCache(target)
        assert isinstance(cache.path, str)
        put_keys(cache, 1)
        cache.save()
        assert Path(cache.path).exists()
    with pytest.raises(TypeError):
        rtcache.RuntimeCache(42)


def test_size_budget_evicts_least_recently_used_at_save(tmp_path):
    path = str(tmp_path / "budget.rtc")
    writer = rtcache.RuntimeCache(path, compression=rtcache.Compression.NONE)
    for i in range(8):
        writer.put(f"k{i}", bytes([i]) * 10_000)
    writer.save()
    small = rtcache.RuntimeCache(path, max_bytes=40_000, compression=rtcache.Compression.NONE)
    small.load()
    small.put("new", b"x" * 10_000)
    small.save()
    assert small.stats.evictions > 0
    check = rtcache.RuntimeCache(path)
    check.load()
    assert check.get("new") == b"x" * 10_000
    assert len(check) <= 4


def test_checkpoint_options_and_unsaved_changes_are_visible(tmp_path):
    cache = rtcache.RuntimeCache(str(tmp_path / "c.rtc"), checkpoint_interval=3600, trust_others=True)
    assert not cache.has_unsaved_changes
    cache.put("k", b"v")
    assert cache.has_unsaved_changes
    cache.save()
    assert not cache.has_unsaved_changes


def test_save_on_signals_saves_before_sigterm_ends_the_process(tmp_path):
    path = tmp_path / "signal.rtc"
    script = f"""
import os, signal, rtcache
cache = rtcache.RuntimeCache({str(path)!r}, autosave_on_del=True)
cache.put("k", b"saved on SIGTERM")
rtcache.save_on_signals([signal.SIGTERM], deadline="10s")
os.kill(os.getpid(), signal.SIGTERM)
signal.pause()
"""
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert child.returncode == -signal.SIGTERM
    check = rtcache.RuntimeCache(str(path))
    check.load()
    assert check.get("k") == b"saved on SIGTERM"
