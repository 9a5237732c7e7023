"""Sizes and durations: numbers as before, and strings in the C++ library's grammar."""

from __future__ import annotations

import datetime
import os
import pickle

import pytest

import rtcache
from support import put_keys

KIB, MIB, GIB, TIB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4096", 4096), ("64K", 64 * KIB), ("64KiB", 64 * KIB), ("512MiB", 512 * MIB),
     ("512mb", 512 * MIB), ("2G", 2 * GIB), ("1T", TIB), ("0", 0)],
)
def test_byte_sizes_follow_the_library_grammar(text, expected):
    assert rtcache.parse_byte_size(text) == expected
    cache = rtcache.RuntimeCache(max_bytes=text, max_value_bytes=text, compaction_min_dead_bytes=text)
    for name in ("max_bytes", "max_value_bytes", "compaction_min_dead_bytes"):
        if name == "max_bytes" and expected == 0:
            continue  # 0 is the environment's or the default budget (the next test)
        assert cache.options[name] == expected, name


def test_max_bytes_zero_is_rtcache_max_size_else_the_default_budget(monkeypatch):
    monkeypatch.delenv("RTCACHE_MAX_SIZE", raising=False)
    assert rtcache.RuntimeCache(max_bytes=0).options["max_bytes"] == GIB
    monkeypatch.setenv("RTCACHE_MAX_SIZE", "64M")
    assert rtcache.RuntimeCache().options["max_bytes"] == 64 * MIB
    assert rtcache.RuntimeCache(max_bytes="1M").options["max_bytes"] == MIB  # explicit wins
    monkeypatch.setenv("RTCACHE_MAX_SIZE", "0")
    assert rtcache.RuntimeCache().options["max_bytes"] == (1 << 64) - 1  # no limit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1500ms", 1.5), ("10s", 10.0), ("30", 30.0), ("2m", 120.0), ("2h", 7200.0),
     ("30d", 30 * 86400.0)],
)
def test_durations_follow_the_library_grammar(text, seconds):
    assert rtcache.parse_duration(text) == seconds
    cache = rtcache.RuntimeCache(
        lock_timeout=text, checkpoint_interval=text, last_use_resolution=text
    )
    assert cache.options["lock_timeout"] == seconds
    assert cache.options["checkpoint_interval"] == seconds
    assert cache.options["last_use_resolution"] == int(seconds)  # kept in whole seconds


def test_numbers_and_timedeltas_work_as_before():
    cache = rtcache.RuntimeCache(
        lock_timeout=2.5,
        checkpoint_interval=datetime.timedelta(minutes=1),
        last_use_resolution=60,
        max_bytes=1 << 20,
        max_value_bytes=4096,
    )
    o = cache.options
    assert (o["lock_timeout"], o["checkpoint_interval"], o["last_use_resolution"]) == (2.5, 60, 60)
    assert (o["max_bytes"], o["max_value_bytes"]) == (1 << 20, 4096)


@pytest.mark.parametrize(
    ("options", "kind"),
    [({"max_bytes": "12Q"}, "byte size"), ({"max_value_bytes": "lots"}, "byte size"),
     ({"compaction_min_dead_bytes": "-1K"}, "byte size"), ({"max_bytes": "99999999999T"}, "byte size"),
     ({"max_bytes": -1}, "byte size"), ({"max_bytes": 1 << 64}, "byte size"),
     ({"lock_timeout": "soon"}, "duration"), ({"checkpoint_interval": "10 parsecs"}, "duration"),
     ({"lock_timeout": "-5s"}, "duration"), ({"lock_timeout": -1}, "duration"),
     ({"last_use_resolution": float("nan")}, "duration"),
     ({"checkpoint_interval": datetime.timedelta(seconds=-1)}, "duration")],
)
def test_a_bad_size_or_duration_is_an_invalid_argument_naming_it(options, kind):
    [bad] = options.values()
    with pytest.raises(rtcache.InvalidArgumentError) as raised:
        rtcache.RuntimeCache(**options)
    assert isinstance(raised.value, ValueError)
    assert repr(bad) in str(raised.value) and kind in str(raised.value)


def test_the_parsers_name_the_bad_text():
    with pytest.raises(rtcache.InvalidArgumentError, match="'64X'"):
        rtcache.parse_byte_size("64X")
    with pytest.raises(rtcache.InvalidArgumentError, match="'later'"):
        rtcache.parse_duration("later")


def test_other_types_are_still_type_errors():
    for options in ({"max_bytes": 1.5}, {"max_bytes": True}, {"lock_timeout": True},
                    {"lock_timeout": object()}, {"max_bytes": b"64K"}):
        with pytest.raises(TypeError):
            rtcache.RuntimeCache(**options)


def test_options_given_as_strings_survive_pickle(tmp_path):
    cache = rtcache.RuntimeCache(
        tmp_path / "c.rtc", max_bytes="64M", lock_timeout="250ms", trust_others=True
    )
    put_keys(cache, 2)
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.options == cache.options
    assert copy.options["max_bytes"] == 64 * MIB and copy.options["lock_timeout"] == 0.25
    assert copy.options["trust_others"] is True


def test_trust_others_is_taken_where_options_are(tmp_path):
    """A group-writable file is refused unless trust_others is set (handle and inspect_file)."""
    path = tmp_path / "shared.rtc"
    writer = rtcache.RuntimeCache(path, file_mode=0o660)
    put_keys(writer, 2)
    writer.save()
    os.chmod(path, 0o664)  # writable by the group: someone else could have written it
    with pytest.raises(rtcache.CachePermissionError, match="not trusted"):
        rtcache.RuntimeCache(path).load()
    with pytest.raises(rtcache.CachePermissionError):
        rtcache.inspect_file(path)
    trusting = rtcache.RuntimeCache(path, trust_others=True)
    trusting.load()
    assert len(trusting) == 2
    assert rtcache.inspect_file(path, trust_others=True).entries == 2


def test_a_value_over_max_value_bytes_is_refused_at_put(tmp_path):
    """Nothing is stored that a reader would refuse: the put raises and stores nothing."""
    cache = rtcache.RuntimeCache(tmp_path / "c.rtc", max_value_bytes="4K")
    cache.put("fits", b"x" * 4096)
    with pytest.raises(rtcache.InvalidArgumentError, match="too-big"):
        cache.put("too-big", b"x" * 4097)
    with pytest.raises(ValueError):
        cache.put("k" * ((1 << 20) + 1), b"v")
    assert "too-big" not in cache and "fits" in cache
    assert cache.stats.rejected_puts == 0  # refused before reaching the handle
    cache.save()
    reread = rtcache.RuntimeCache(tmp_path / "c.rtc")
    reread.load()
    assert [e.key for e in reread.entries()] == ["fits"]


def test_a_read_only_handle_serves_hits_and_writes_nothing(tmp_path):
    path = tmp_path / "c.rtc"
    writer = rtcache.RuntimeCache(path)
    put_keys(writer, 2)
    writer.save()
    os.remove(str(path) + ".lock")
    before = path.read_bytes()
    reader = rtcache.RuntimeCache(path, read_only=True, autosave_on_del=True)
    reader.load()
    assert reader.read_only and reader.options["read_only"] is True
    assert "k0" in reader
    reader.put("new", b"stays in memory")
    with pytest.raises(rtcache.CachePermissionError, match="read-only"):
        reader.save()
    del reader  # autosave: nothing written, nothing said
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.rtc"]
