import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")
def test_allocator_tuning_applies_and_respects_the_users_malloc_settings():
    code = "from vidstyle.allocator import tune_allocator; print(tune_allocator())"
    tuned = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert tuned.stdout.strip() == "True"
    env = {"MALLOC_ARENA_MAX": "2", "PATH": "/usr/bin:/bin"}
    left = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert left.stdout.strip() == "False"
