"""Autosave: the original change's own tests (TestRuntimeCacheAutosave), ported.

The original saved engine-implicit handles from ``__del__``; during interpreter
shutdown that raised ``ImportError: sys.meta_path is None``, printed
"Exception ignored" once per handle and lost the cache. Its fix registered an
``atexit`` hook holding a weak reference. rtcache keeps both paths in C++ (the
destructor, and an exit hook holding a ``std::weak_ptr``); these tests check
them through the binding, in this process and in real child interpreters.
"""

from __future__ import annotations

import copy
import gc
import logging
import pickle
import threading
from pathlib import Path

import pytest

import rtcache
from support import (
    assert_file_holds_keys,
    key,
    put_keys,
    registry_baseline,
    unsavable_path,
    value,
)

# --- in-process ------------------------------------------------------------------------


def test_failed_save_during_destruction_does_not_escape(tmp_path, unraisable, caplog):
    """Original: test_del_swallows_shutdown_import_error_on_path.

    Reading or saving the handle's path fails while the handle is destroyed:
    nothing reaches sys.unraisablehook; one warning names what failed.
    """
    path = unsavable_path(tmp_path)
    cache = rtcache.RuntimeCache(path, autosave_on_del=True)
    put_keys(cache, 3)
    with caplog.at_level(logging.WARNING, logger="rtcache"):
        del cache
        gc.collect()
    assert unraisable == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "rtcache"]
    assert len(warnings) == 1, warnings
    assert str(path.parent) in warnings[0]  # the directory that could not be made


def test_exit_hook_entry_point_saves_live_handle_and_turns_autosave_off(tmp_path):
    """Original: test_atexit_hook_saves_via_weakref (the hook's own function).

    autosave_now() is what the exit hook calls on a handle it finds alive: it
    saves and turns autosave off, so whoever comes second does nothing.
    """
    path = tmp_path / "cache.rtc"
    cache = rtcache.RuntimeCache(path, autosave_on_del=True)
    put_keys(cache, 5)
    assert cache.autosave_now() is True
    assert cache.autosave_on_del is False
    assert cache.stats.saves == 1
    assert_file_holds_keys(path, 5)
    assert cache.autosave_now() is False  # the second path is a no-op
    del cache  # and destruction no longer saves
    assert_file_holds_keys(path, 5)


def test_destruction_after_autosave_is_a_clean_no_op(tmp_path, unraisable):
    """Original: test_atexit_hook_no_op_on_dead_weakref (in this process).

    A handle that died was saved by its destructor; nothing of it is left for
    the exit hook.
    """
    baseline = registry_baseline()
    path = tmp_path / "cache.rtc"
    cache = rtcache.RuntimeCache(path, autosave_on_del=True)
    put_keys(cache, 4)
    assert rtcache.exit_registry_size() == baseline + 1
    del cache
    assert rtcache.exit_registry_size() == baseline
    assert unraisable == []
    assert_file_holds_keys(path, 4)


def test_destroying_a_handle_unregisters_its_exit_hook(tmp_path):
    """Original: test_atexit_token_unregistered_after_del; the registry shrinks back."""
    baseline = registry_baseline()
    cache = rtcache.RuntimeCache(tmp_path / "cache.rtc", autosave_on_del=True)
    assert cache.exit_token != 0
    assert rtcache.exit_registry_size() == baseline + 1
    del cache
    assert rtcache.exit_registry_size() == baseline
    # Model swaps and A/B rollouts churn handles: nothing accumulates.
    for i in range(500):
        rtcache.RuntimeCache(tmp_path / f"churn{i % 10}.rtc", autosave_on_del=True)
    assert rtcache.exit_registry_size() == baseline


def test_setting_autosave_registers_and_unregisters(tmp_path):
    baseline = registry_baseline()
    cache = rtcache.RuntimeCache(tmp_path / "cache.rtc")
    assert cache.exit_token == 0
    cache.autosave_on_del = True
    first = cache.exit_token
    assert first != 0 and rtcache.exit_registry_size() == baseline + 1
    cache.autosave_on_del = False
    assert cache.exit_token == 0 and rtcache.exit_registry_size() == baseline
    cache.autosave_on_del = True
    assert cache.exit_token not in (0, first)
    put_keys(cache, 2)
    del cache
    assert_file_holds_keys(tmp_path / "cache.rtc", 2)


def test_pickle_round_trip_drops_the_token_and_registers_a_new_one(tmp_path):
    """Original: test_pickle_round_trip_strips_atexit_token.

    The pickled state carries path, options, autosave flag and entries but no
    exit token; the restored handle registers its own, different one and
    autosaves on its own.
    """
    baseline = registry_baseline()
    path = tmp_path / "cache.rtc"
    original = rtcache.RuntimeCache(path, autosave_on_del=True, lock_timeout=3)
    put_keys(original, 6)
    state = original.__getstate__()
    assert set(state) == {"version", "path", "autosave_on_del", "options", "entries"}

    restored = pickle.loads(pickle.dumps(original))
    assert restored is not original and restored != original
    assert restored.path == original.path == str(path)
    assert restored.autosave_on_del is True
    assert restored.options == original.options
    assert restored.exit_token not in (0, original.exit_token)
    with pytest.raises(AttributeError):
        restored.exit_token = original.exit_token  # read-only
    assert len(restored) == 6 and restored.get(key(5)) == value(5)
    assert rtcache.exit_registry_size() == baseline + 2

    original.autosave_on_del = False  # the original's token is gone ...
    del original
    assert rtcache.exit_registry_size() == baseline + 1
    assert not path.exists()
    del restored  # ... and the restored handle saves by itself
    assert rtcache.exit_registry_size() == baseline
    assert_file_holds_keys(path, 6)


def test_pickle_of_a_user_built_handle_stays_unregistered(tmp_path):
    cache = rtcache.RuntimeCache(tmp_path / "cache.rtc")
    put_keys(cache, 2)
    restored = pickle.loads(pickle.dumps(cache))
    assert restored.autosave_on_del is False and restored.exit_token == 0
    assert len(restored) == 2


def test_unpickled_handle_autosaves_in_another_process(tmp_path, run_python):
    """The restored handle's registration belongs to the process that restored it."""
    path = tmp_path / "cache.rtc"
    original = rtcache.RuntimeCache(path, autosave_on_del=True)
    put_keys(original, 10)
    (tmp_path / "handle.pickle").write_bytes(pickle.dumps(original))
    original.autosave_on_del = False  # only the child saves
    child = run_python(f"""
        import pickle
        with open({str(tmp_path / "handle.pickle")!r}, "rb") as f:
            cache = pickle.load(f)
        assert cache.autosave_on_del and cache.exit_token != 0
    """)
    assert child.returncode == 0, child.stderr
    assert child.stderr == ""
    assert_file_holds_keys(path, 10)


def test_failed_restore_leaves_a_half_made_handle_that_dies_silently(tmp_path, unraisable):
    """O14: a copy that fails midway is still destroyed silently (and saves nothing)."""
    baseline = registry_baseline()
    good = rtcache.RuntimeCache(tmp_path / "cache.rtc", autosave_on_del=True)
    put_keys(good, 2)
    state = good.__getstate__()
    good.autosave_on_del = False
    state["entries"] = b"not an rtcache serialization"
    half = rtcache.RuntimeCache.__new__(rtcache.RuntimeCache)
    with pytest.raises(rtcache.CorruptionError):
        half.__setstate__(state)
    del half, good
    gc.collect()
    assert unraisable == []
    assert rtcache.exit_registry_size() == baseline
    assert not (tmp_path / "cache.rtc").exists()


def test_deepcopy_failing_midway_drops_the_copy_silently(tmp_path, unraisable):
    """O14 as the original met it: deepcopy fails on a lock after copying the handle."""
    baseline = registry_baseline()
    cache = rtcache.RuntimeCache(tmp_path / "cache.rtc", autosave_on_del=True)
    with pytest.raises(TypeError):
        copy.deepcopy({"cache": cache, "lock": threading.Lock()})
    gc.collect()
    assert unraisable == []
    assert rtcache.exit_registry_size() == baseline + 1  # only `cache` itself


def test_deepcopy_and_copy_give_independent_handles(tmp_path):
    path = tmp_path / "cache.rtc"
    cache = rtcache.RuntimeCache(path, autosave_on_del=True, compression=rtcache.Compression.NONE)
    put_keys(cache, 3)
    for duplicate in (copy.deepcopy(cache), copy.copy(cache), cache.clone()):
        assert duplicate is not cache and duplicate != cache
        assert duplicate.path == cache.path and duplicate.options == cache.options
        assert duplicate.autosave_on_del is True
        assert duplicate.exit_token not in (0, cache.exit_token)
        assert [e.key for e in duplicate.entries()] == [e.key for e in cache.entries()]
        duplicate.put("only-in-the-copy", b"x")
        assert "only-in-the-copy" not in cache
        duplicate.autosave_on_del = False


def test_user_built_handle_does_not_autosave_by_default(tmp_path):
    """Original plan: a user-built handle does not autosave by default."""
    path = tmp_path / "cache.rtc"
    cache = rtcache.RuntimeCache(path)
    assert cache.autosave_on_del is False and cache.exit_token == 0
    put_keys(cache, 3)
    del cache
    assert not path.exists()


def test_handle_saved_on_destruction_leaves_the_file(tmp_path):
    """Original plan (persistence): a handle saved on destruction leaves the file."""
    path = tmp_path / "sub" / "cache.rtc"
    cache = rtcache.RuntimeCache(path, autosave_on_del=True)
    put_keys(cache, 20)
    assert not path.exists(), "nothing is written before the handle dies"
    del cache
    assert_file_holds_keys(path, 20)


# --- real interpreters: shutdown -------------------------------------------------------

FILL = """
    import rtcache
    def fill(cache, n):
        for i in range(n):
            cache.put(f"k{{i}}", (f"value-of:k{{i}};" * 32).encode())
    PATH = {path!r}
"""


def child_script(path: Path, body: str) -> str:
    return FILL.format(path=str(path)) + body


def assert_clean_exit(child) -> None:
    assert child.returncode == 0, child.stderr
    assert child.stderr == "", "nothing may be printed during shutdown"


def assert_saved_once_at_exit(tmp_path: Path, run_python, body: str) -> None:
    """Runs `body` in a child interpreter: its 50 keys are saved once, silently, at exit."""
    path = tmp_path / "cache.rtc"
    assert_clean_exit(run_python(child_script(path, body)))
    assert_file_holds_keys(path, 50)
    assert rtcache.inspect_file(path).saves == 1


def test_handle_in_a_module_global_is_saved_at_exit(tmp_path, run_python):
    """The original bug's setting: a live autosaving handle when the interpreter exits."""
    assert_saved_once_at_exit(tmp_path, run_python, """
    cache = rtcache.RuntimeCache(PATH, autosave_on_del=True)
    fill(cache, 50)
    """)


def test_handle_in_a_reference_cycle_is_saved_at_exit(tmp_path, run_python):
    assert_saved_once_at_exit(tmp_path, run_python, """
    import gc
    gc.disable()  # the cycle is still there when the interpreter shuts down

    class Model:
        pass

    model = Model()
    model.self = model
    model.cache = rtcache.RuntimeCache(PATH, autosave_on_del=True)
    fill(model.cache, 50)
    del model
    """)


def test_handle_that_is_itself_in_a_reference_cycle_is_saved_at_exit(tmp_path, run_python):
    assert_saved_once_at_exit(tmp_path, run_python, """
    import gc
    gc.disable()

    class Cache(rtcache.RuntimeCache):
        pass

    cache = Cache(PATH, autosave_on_del=True)
    cache.me = cache
    fill(cache, 50)
    del cache
    """)


def test_exit_hook_saves_a_handle_alive_after_the_interpreter_is_gone(tmp_path, run_python):
    """Original: test_atexit_hook_saves_via_weakref, at a real exit.

    The handle is leaked on purpose, so Python never destroys it: only the C++
    exit hook, which runs after the interpreter has finalized, can save it.
    """
    path = tmp_path / "cache.rtc"
    child = run_python(child_script(path, """
    import atexit, ctypes, os
    cache = rtcache.RuntimeCache(PATH, autosave_on_del=True)
    fill(cache, 50)
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(cache))  # never freed
    atexit.register(lambda: print("at python exit:", os.path.exists(PATH)))
    """))
    assert_clean_exit(child)
    assert child.stdout == "at python exit: False\n"
    assert_file_holds_keys(path, 50)
    assert rtcache.inspect_file(path).saves == 1


def test_exit_hook_for_a_handle_that_died_is_a_no_op(tmp_path, run_python):
    """Original: test_atexit_hook_no_op_on_dead_weakref, at a real exit."""
    path = tmp_path / "cache.rtc"
    child = run_python(child_script(path, """
    cache = rtcache.RuntimeCache(PATH, autosave_on_del=True)
    fill(cache, 50)
    del cache
    print("registry", rtcache.exit_registry_size())
    """))
    assert_clean_exit(child)
    assert child.stdout == "registry 0\n"
    assert_file_holds_keys(path, 50)
    assert rtcache.inspect_file(path).saves == 1


def test_failed_autosave_at_shutdown_is_one_warning_line(tmp_path, run_python):
    """The original printed "Exception ignored" per handle and lost the cache."""
    path = unsavable_path(tmp_path)
    child = run_python(child_script(path, """
    caches = [rtcache.RuntimeCache(PATH, autosave_on_del=True)]
    fill(caches[0], 3)
    """))
    assert child.returncode == 0, "a failed autosave does not change the exit status"
    lines = child.stderr.splitlines()
    assert len(lines) == 1, child.stderr
    assert lines[0].startswith("rtcache: warning: ") and str(path.parent) in lines[0]
    assert "Exception ignored" not in child.stderr


def test_warnings_reach_logging_while_the_interpreter_runs(tmp_path, run_python):
    path = unsavable_path(tmp_path)
    child = run_python(child_script(path, """
    import logging, sys
    logging.basicConfig(stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
    cache = rtcache.RuntimeCache(PATH, autosave_on_del=True)
    fill(cache, 1)
    del cache
    print("done")
    """))
    assert child.returncode == 0 and child.stderr == ""
    first, done = child.stdout.splitlines()
    assert first.startswith("rtcache WARNING autosave") and str(path.parent) in first
    assert done == "done"


def test_forked_child_does_not_save_the_handles_it_inherited(tmp_path, run_python):
    """R10: only the process that made a handle autosaves it."""
    path = tmp_path / "cache.rtc"
    child = run_python(child_script(path, """
    import os, sys
    cache = rtcache.RuntimeCache(PATH, autosave_on_del=True)
    fill(cache, 50)
    pid = os.fork()
    if pid == 0:
        cache.put("forked", b"x")
        sys.exit(0)  # a normal exit: finalization and exit hooks run
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status), os.path.exists(PATH))
    """))
    assert_clean_exit(child)
    assert child.stdout == "child 0 False\n"
    assert_file_holds_keys(path, 50)  # exactly the parent's keys: no "forked"


def test_os_exit_does_not_save(tmp_path, run_python):
    """As documented: _exit skips every exit hook."""
    path = tmp_path / "cache.rtc"
    child = run_python(child_script(path, """
    import os
    cache = rtcache.RuntimeCache(PATH, autosave_on_del=True)
    fill(cache, 5)
    os._exit(0)
    """))
    assert_clean_exit(child)
    assert not path.exists()
