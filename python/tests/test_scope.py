"""``with rtcache.runtime_cache(engines, target) as cache:`` -- the scoped, shared cache (O7.2)."""

from __future__ import annotations

import gc
import io
import logging

import pytest

import rtcache
from support import make_engine, unsavable_path


def test_scope_loads_attaches_one_handle_restores_and_saves_once(tmp_path):
    """Original plan: loads and saves; one handle for all engines; saved exactly once."""
    path, own = tmp_path / "scope.rtc", tmp_path / "own.rtc"
    warmup = make_engine(rtcache.RuntimeSettings.path(path))
    warmup.kernel("scale<float>")
    del warmup  # saves `path`
    a = make_engine(rtcache.RuntimeSettings.path(own))
    b = make_engine()
    a_before, b_before = a.runtime_settings, b.runtime_settings
    with rtcache.runtime_cache([a, b], path) as shared:
        assert isinstance(shared, rtcache.RuntimeCache) and shared.autosave_on_del is False
        assert a.runtime_cache is shared and b.runtime_cache is shared
        assert a.kernel("scale<float>").from_cache, "loaded before any engine asked"
        b.kernel("scale<int>")
        assert shared.stats.saves == 0
    assert a.runtime_settings == a_before and b.runtime_settings == b_before
    assert shared.stats.saves == 1, "exactly once"
    saved = rtcache.RuntimeCache(path)
    saved.load()
    assert len(saved) == 4  # two kernels, each with its alias entry


def test_memory_only_scope_creates_no_file(tmp_path):
    """Original plan: "" stays in memory and creates no file."""
    engine = make_engine()
    with rtcache.runtime_cache(engine) as shared:
        engine.kernel("scale<float>")
        assert shared.path == "" and len(shared) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_no_engine_is_an_error():
    """Original plan: no engine under the targets is an error."""
    with pytest.raises(RuntimeError, match="no engine"):
        rtcache.runtime_cache([])
    with pytest.raises(rtcache.InvalidArgumentError):
        rtcache.runtime_cache(iter(()), "")


def test_targets_that_are_neither_a_path_nor_a_stream_are_rejected():
    """Original plan: an unsupported target type is rejected with a clear error."""
    engine = make_engine()
    for target in (42, b"bytes are not a path here", object(), None):
        with pytest.raises(TypeError, match="path .* or a binary file-like object"):
            rtcache.runtime_cache(engine, target)


def test_targets_without_an_engine_are_a_runtime_error():
    """Original: a target with no engine under it raises RuntimeError (not TypeError)."""
    for engines in (42, "engine", object(), [object(), "not an engine"]):
        with pytest.raises(RuntimeError, match="no engine found"):
            rtcache.runtime_cache(engines)
    engine = make_engine()
    scope = rtcache.runtime_cache([engine, "not an engine", 7])
    with scope as shared:
        assert engine.runtime_cache is shared


def test_a_save_failure_at_exit_is_a_warning(tmp_path, caplog):
    path = unsavable_path(tmp_path)
    engine = make_engine()
    with caplog.at_level(logging.WARNING, logger="rtcache"):
        with rtcache.runtime_cache(engine, path):
            engine.kernel("scale<float>")
    warnings = [r.getMessage() for r in caplog.records if r.name == "rtcache"]
    assert len(warnings) == 1 and str(path.parent) in warnings[0]
    assert engine.runtime_settings == rtcache.RuntimeSettings.none()


def test_a_save_failure_never_masks_the_exception_leaving_the_block(tmp_path, caplog):
    path = unsavable_path(tmp_path)
    engine = make_engine()
    with caplog.at_level(logging.WARNING, logger="rtcache"):
        with pytest.raises(KeyError, match="from the block"):
            with rtcache.runtime_cache(engine, path):
                engine.kernel("scale<float>")
                raise KeyError("from the block")
    assert len([r for r in caplog.records if r.name == "rtcache"]) == 1
    assert engine.runtime_settings == rtcache.RuntimeSettings.none()


def test_an_exception_in_the_block_still_restores_and_saves(tmp_path):
    path = tmp_path / "scope.rtc"
    engine = make_engine()
    with pytest.raises(ZeroDivisionError):
        with rtcache.runtime_cache(engine, path) as shared:
            engine.kernel("scale<float>")
            1 / 0  # noqa: B018
    assert engine.runtime_settings == rtcache.RuntimeSettings.none()
    assert shared.stats.saves == 1 and path.exists()


def test_autosave_false_restores_without_saving(tmp_path):
    path = tmp_path / "scope.rtc"
    engine = make_engine()
    with rtcache.runtime_cache(engine, path, autosave=False) as shared:
        engine.kernel("scale<float>")
    assert shared.stats.saves == 0 and not path.exists()
    shared.save()  # the caller decides
    assert path.exists()


def test_an_engine_given_twice_is_attached_and_restored_once(tmp_path):
    engine = make_engine(rtcache.RuntimeSettings.path(tmp_path / "own.rtc"))
    before = engine.runtime_settings
    with rtcache.runtime_cache([engine, engine], tmp_path / "scope.rtc") as shared:
        assert engine.runtime_cache is shared
    assert engine.runtime_settings == before


def test_close_saves_now_and_raises_on_failure(tmp_path):
    engine = make_engine()
    scope = rtcache.runtime_cache(engine, unsavable_path(tmp_path))
    with scope:
        engine.kernel("scale<float>")
        with pytest.raises(rtcache.CacheIOError):
            scope.close()
        assert engine.runtime_settings == rtcache.RuntimeSettings.none()
    # leaving after close() does nothing more


# --- stream targets (R15: read once, written whole once, never appended) ---------------


def test_stream_is_read_once_and_written_whole_once_at_its_position():
    prefix = b"header that is not the cache"
    stream = io.BytesIO()
    stream.write(prefix)
    first = make_engine()
    with rtcache.runtime_cache(first, stream):
        first.kernel("scale<float>")
    once = stream.getvalue()
    assert once.startswith(prefix) and len(once) > len(prefix)

    stream.seek(len(prefix))
    second = make_engine()
    with rtcache.runtime_cache(second, stream) as shared:
        assert second.kernel("scale<float>").from_cache
        assert shared.stats.bytes_loaded == len(once) - len(prefix)
    # Rewritten in place, not appended after the old bytes (fixes D7).
    assert stream.getvalue().startswith(prefix) and len(stream.getvalue()) == len(once)

    stream.seek(len(prefix))
    check = rtcache.RuntimeCache()
    assert check.load_from_stream(stream) == len(once) - len(prefix)
    assert len(check) == 2


def test_stream_scope_truncates_a_shrinking_cache():
    stream = io.BytesIO()
    engine = make_engine()
    with rtcache.runtime_cache(engine, stream):
        engine.kernel("scale<float>")
        engine.kernel("scale<int>")
    big = len(stream.getvalue())
    stream.seek(0)
    with rtcache.runtime_cache(engine, stream) as shared:
        shared.reset()
    assert 0 < len(stream.getvalue()) < big
    stream.seek(0)
    assert rtcache.RuntimeCache().load_from_stream(stream) == len(stream.getvalue())


def test_stream_scope_with_an_open_file(tmp_path):
    engine = make_engine()
    with open(tmp_path / "cache.bin", "w+b") as f:
        with rtcache.runtime_cache(engine, f):
            engine.kernel("vector_add")
        f.seek(0)
        with rtcache.runtime_cache(make_engine(), f) as shared:
            assert len(shared) == 2
    loaded = rtcache.RuntimeCache()
    with open(tmp_path / "cache.bin", "rb") as f:
        assert loaded.load_from_stream(f) == (tmp_path / "cache.bin").stat().st_size
    assert len(loaded) == 2


def test_stream_scope_truncates_a_shrinking_real_file(tmp_path):
    engine = make_engine()
    with open(tmp_path / "cache.bin", "w+b") as f:
        with rtcache.runtime_cache(engine, f):
            engine.kernel("scale<float>")
            engine.kernel("scale<int>")
        big = (tmp_path / "cache.bin").stat().st_size
        f.seek(0)
        with rtcache.runtime_cache(make_engine(), f) as shared:
            shared.erase(engine.key_for("scale<int>"))
    assert 0 < (tmp_path / "cache.bin").stat().st_size < big


# --- the scope is rtcache::ScopedRuntimeCache, bound -----------------------------------------


def test_the_scope_is_the_cpp_implementation(tmp_path):
    engine = make_engine()
    for target in (tmp_path / "scope.rtc", str(tmp_path / "str.rtc"), "", io.BytesIO()):
        scope = rtcache.runtime_cache(engine, target)
        with scope as shared:
            assert isinstance(scope._scope, rtcache._rtcache.ScopedRuntimeCache)
            assert scope._scope.cache is shared and scope.cache is shared
            engine.kernel("vector_add")
        assert engine.runtime_settings == rtcache.RuntimeSettings.none()
    assert (tmp_path / "scope.rtc").exists() and (tmp_path / "str.rtc").exists()


def test_a_scope_is_entered_once(tmp_path):
    scope = rtcache.runtime_cache(make_engine(), tmp_path / "once.rtc")
    with scope:
        with pytest.raises(RuntimeError, match="only once"):
            scope.__enter__()


class OneWayStream:
    """Not seekable (no seekable/tell/seek/truncate): the image goes where the stream is."""

    def __init__(self, data: bytes = b"") -> None:
        self.incoming, self.written = data, bytearray()

    def read(self) -> bytes:
        data, self.incoming = self.incoming, b""
        return data

    def write(self, data) -> int:
        self.written += bytes(data)
        return len(data)


def test_a_stream_that_cannot_seek_is_read_once_and_written_once():
    first = OneWayStream()
    engine = make_engine()
    with rtcache.runtime_cache(engine, first):
        engine.kernel("scale<float>")
    second = OneWayStream(bytes(first.written))
    with rtcache.runtime_cache(make_engine(), second) as shared:
        assert len(shared) == 2
    assert bytes(second.written) == bytes(first.written)


def test_a_text_stream_is_rejected_on_entering_and_attaches_nothing():
    engine = make_engine()
    with pytest.raises(TypeError, match="binary mode"):
        with rtcache.runtime_cache(engine, io.StringIO("text")):
            pass  # pragma: no cover
    assert engine.runtime_settings == rtcache.RuntimeSettings.none()


class FailingStream(io.BytesIO):
    """A BytesIO whose read or write raises its own exception."""

    def __init__(self, fail_on: str) -> None:
        super().__init__()
        self.fail_on = fail_on

    def read(self, *args):
        if self.fail_on == "read":
            raise BlockingIOError("no data yet")
        return super().read(*args)

    def write(self, data):
        if self.fail_on == "write":
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_the_streams_own_exception_leaves_entering():
    engine = make_engine()
    with pytest.raises(BlockingIOError, match="no data yet"):
        with rtcache.runtime_cache(engine, FailingStream("read")):
            pass  # pragma: no cover
    assert engine.runtime_settings == rtcache.RuntimeSettings.none()


def test_a_stream_write_failure_is_a_warning_on_leaving_and_raised_by_close(caplog):
    engine = make_engine()
    with caplog.at_level(logging.WARNING, logger="rtcache"):
        with rtcache.runtime_cache(engine, FailingStream("write")):
            engine.kernel("scale<float>")
    warnings = [r.getMessage() for r in caplog.records if r.name == "rtcache"]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    scope = rtcache.runtime_cache(engine, FailingStream("write"))
    with scope:
        with pytest.raises(OSError, match="No space left") as raised:
            scope.close()
        assert not isinstance(raised.value, rtcache.RuntimeCacheError), "the stream's own"
        assert engine.runtime_settings == rtcache.RuntimeSettings.none()


def test_a_damaged_or_foreign_stream_raises_on_entering(compiled_blob):
    engine = make_engine()
    with pytest.raises(rtcache.NotACacheFileError):
        with rtcache.runtime_cache(engine, io.BytesIO(b"not a cache" * 10)):
            pass  # pragma: no cover
    with pytest.raises(rtcache.CorruptionError):
        with rtcache.runtime_cache(engine, io.BytesIO(compiled_blob[:-10])):
            pass  # pragma: no cover
    assert engine.runtime_settings == rtcache.RuntimeSettings.none()


def test_the_scope_keeps_its_engines_alive(tmp_path):
    scope = rtcache.runtime_cache([make_engine(), make_engine()], tmp_path / "alive.rtc")
    with scope as shared:
        del scope._engines  # only the C++ scope refers to them now
        gc.collect()
        shared.put("k", b"v")
    saved = rtcache.RuntimeCache(tmp_path / "alive.rtc")
    saved.load()
    assert saved.get("k") == b"v"


def test_a_scope_on_a_read_only_cache_writes_and_says_nothing(tmp_path, run_python):
    """RTCACHE_READONLY (as a read-only mount would): the block's additions stay in memory."""
    path = tmp_path / "ro.rtc"
    writer = rtcache.RuntimeCache(path)
    writer.put("warm", b"v")
    writer.save()
    (tmp_path / "ro.rtc.lock").unlink()
    before = path.read_bytes()
    result = run_python(
        f"""
        import rtcache
        engine = rtcache.Engine(rtcache.EngineConfig("", name="m"), rtcache.RuntimeSettings())
        with rtcache.runtime_cache(engine, {str(path)!r}) as shared:
            assert "warm" in shared and shared.read_only
            shared.put("added", b"in memory")
        """,
        RTCACHE_READONLY="1",
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ro")) == ["ro.rtc"]
