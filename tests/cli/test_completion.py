"""Shell completion offers verbs and method names."""

import os
import subprocess
import sys

from ..conftest import FIXTURES


def complete(words: str, cword: int, tmp_path) -> list[str]:
    env = dict(os.environ)
    env.update({
        "_ZOO_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
        "PYTHONPATH": str(FIXTURES),
        "ZOO_PLUGIN_MODULES": "toy_plugin",
    })
    out = subprocess.run([sys.executable, "-m", "zoo"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_verbs_and_methods_complete(tmp_path):
    assert "train" in complete("zoo tr", 1, tmp_path)
    assert "toy" in complete("zoo train ", 2, tmp_path)
    assert "toy" in complete("zoo info t", 2, tmp_path)
