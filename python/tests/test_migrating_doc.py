"""Every example in docs/migrating.md runs: each ``python`` block in a new interpreter, in
order, in one directory (a block sees the files earlier ones left), with no output on
stderr."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support import python_path

DOC = Path(__file__).resolve().parents[2] / "docs" / "migrating.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_every_example_in_the_migration_guide_runs(tmp_path):
    blocks = examples()
    assert len(blocks) >= 7, f"{DOC}: expected the guide's examples"
    env = dict(
        os.environ,
        PYTHONPATH=python_path(),
        RTCACHE_DIR=str(tmp_path / "default-cache"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    for n, block in enumerate(blocks, 1):
        result = subprocess.run(
            [sys.executable, "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0 and result.stderr == "", (
            f"{DOC} example {n} failed:\n{block}\n{result.stderr}"
        )
