"""Errors: one table from C++ Status codes to exception classes; damaged and foreign files."""

from __future__ import annotations

import logging

import pytest

import rtcache
from rtcache import StatusCode
from support import damaged_cache_file, key, put_keys

# The documented table (python/README.md): code -> (class, what it also is).
EXPECTED = {
    StatusCode.NOT_FOUND: (rtcache.NotFoundError, LookupError),
    StatusCode.CORRUPTION: (rtcache.CorruptionError, ValueError),
    StatusCode.NOT_A_CACHE_FILE: (rtcache.NotACacheFileError, rtcache.CorruptionError),
    StatusCode.NOT_SUPPORTED: (rtcache.NotSupportedError, NotImplementedError),
    StatusCode.INVALID_ARGUMENT: (rtcache.InvalidArgumentError, ValueError),
    StatusCode.COMPILE_ERROR: (rtcache.CompileError, rtcache.InvalidArgumentError),
    StatusCode.IO_ERROR: (rtcache.CacheIOError, OSError),
    StatusCode.LOCK_TIMEOUT: (rtcache.LockTimeoutError, TimeoutError),
    StatusCode.PERMISSION_DENIED: (rtcache.CachePermissionError, PermissionError),
}


def test_every_status_code_but_ok_has_its_own_class():
    codes = set(StatusCode.__members__.values()) - {StatusCode.OK}
    assert codes == set(EXPECTED)
    classes = [rtcache.exception_for(code) for code in codes]
    assert len(set(classes)) == len(classes), "one class per code"
    assert rtcache.RuntimeCacheError.code is None


@pytest.mark.parametrize("code", sorted(EXPECTED, key=int), ids=lambda c: c.name)
def test_each_code_raises_its_class(code):
    cls, also = EXPECTED[code]
    assert rtcache.exception_for(code) is cls and cls.code == code
    assert issubclass(cls, also) and issubclass(cls, rtcache.RuntimeCacheError)
    assert issubclass(cls, RuntimeError)
    with pytest.raises(cls) as raised:
        rtcache._rtcache._raise_status(code, "/some/file: the reason")
    assert type(raised.value) is cls
    assert str(raised.value) == "/some/file: the reason"


def test_the_table_keeps_the_hierarchy():
    assert rtcache.NotACacheFileError.__mro__[1] is rtcache.CorruptionError
    assert rtcache.CompileError.__mro__[1] is rtcache.InvalidArgumentError
    assert rtcache.exception_for(StatusCode.OK) is rtcache.RuntimeCacheError
    with pytest.raises(ValueError):
        rtcache._rtcache._raise_status(StatusCode.OK, "not an error")


# --- a damaged entry: an error, as in C++ and the CLI -----------------------------------------


def test_a_damaged_entry_raises_corruption_naming_the_file_and_offset(tmp_path, caplog):
    path = tmp_path / "cache.rtc"
    damaged_cache_file(path, "victim")
    reader = rtcache.RuntimeCache(path)
    reader.load()
    assert "victim" in reader
    with caplog.at_level(logging.WARNING, logger="rtcache"):
        with pytest.raises(rtcache.CorruptionError) as damaged:
            reader.get("victim")
    assert type(damaged.value) is rtcache.CorruptionError
    message = str(damaged.value)
    assert str(path) in message and "offset" in message
    assert any(str(path) in r.getMessage() for r in caplog.records if r.name == "rtcache")
    # C++ drops the entry: a later get of the same key is a miss, not an error.
    assert reader.get("victim") is None
    assert reader.get("victim", b"default") == b"default"
    assert reader.stats.damaged_records >= 1


def test_a_damaged_entry_does_not_hide_the_others(tmp_path):
    path = tmp_path / "cache.rtc"
    damaged_cache_file(path, "victim")
    writer = rtcache.RuntimeCache(path)
    put_keys(writer, 3)
    writer.save()
    reader = rtcache.RuntimeCache(path)
    reader.load()
    with pytest.raises(rtcache.CorruptionError):
        reader.get("victim")
    assert all(reader.get(key(i)) is not None for i in range(3))


# --- files that are not cache files at all ------------------------------------------------------


@pytest.mark.parametrize(
    "contents", [b"this is not a cache file at all" * 10, b""], ids=["foreign", "empty"]
)
def test_a_foreign_or_empty_file_is_not_a_cache_file(tmp_path, contents):
    foreign = tmp_path / "foreign.rtc"
    foreign.write_bytes(contents)
    with pytest.raises(rtcache.NotACacheFileError) as raised:
        rtcache.RuntimeCache(foreign).load()
    assert str(foreign) in str(raised.value)
    assert isinstance(raised.value, rtcache.CorruptionError)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, RuntimeError)
    with pytest.raises(rtcache.NotACacheFileError):
        rtcache.inspect_file(foreign)
    assert foreign.read_bytes() == contents, "never overwritten"


def test_a_directory_is_not_a_cache_file(tmp_path):
    with pytest.raises(rtcache.NotACacheFileError) as raised:
        rtcache.RuntimeCache(tmp_path).load()
    assert str(tmp_path) in str(raised.value)


def test_foreign_serialized_bytes_are_not_a_cache_but_a_cut_image_is_corrupt():
    target = rtcache.RuntimeCache()
    with pytest.raises(rtcache.NotACacheFileError):
        target.deserialize(b"garbage" * 20)
    source = rtcache.RuntimeCache()
    put_keys(source, 4)
    blob = source.serialize()
    with pytest.raises(rtcache.CorruptionError) as cut:
        target.deserialize(blob[: len(blob) // 2])
    assert type(cut.value) is rtcache.CorruptionError
    assert len(target) == 0

