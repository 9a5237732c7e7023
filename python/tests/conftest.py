"""Shared fixtures and helpers for the rtcache Python tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from support import KERNELS, make_engine, python_path


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default cache locations point into the test's directory, never at ~/.cache."""
    monkeypatch.setenv("RTCACHE_DIR", str(tmp_path / "default-cache"))
    monkeypatch.delenv("RTCACHE_DISABLE", raising=False)


@pytest.fixture
def run_python(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs a script in a new interpreter (sys.executable); returns its result."""

    def run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
        child_env = dict(os.environ)
        child_env.update(
            PYTHONPATH=python_path(),
            RTCACHE_DIR=str(tmp_path / "child-default-cache"),
            RTCACHE_LOG="warning",
            PYTHONDONTWRITEBYTECODE="1",
        )
        child_env.update(env)
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records everything that reaches sys.unraisablehook (e.g. errors in __del__)."""
    seen: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


@pytest.fixture(scope="session")
def compiled_blob() -> bytes:
    """serialize() of an in-memory cache holding every kernel in KERNELS, compiled once."""
    engine = make_engine()
    for name in KERNELS:
        engine.kernel(name)
    return engine.runtime_cache.serialize()
