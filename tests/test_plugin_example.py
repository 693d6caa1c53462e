"""The example third-party plugin package installs and is picked up through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, stepreward
from stepreward import manager
text = "### Image Description:\\nx\\n### Rationales:\\ny\\n### Let's think step by step.\\n### Step 1:\\n6/3 = 2\\n### The final answer is:\\n2"
r = stepreward.score(text + "z" * 3000, solution="2", key_steps=["6/3=2"], preset="paper+length")
print(json.dumps({"plugins": manager.list_plugins(), "components": r.components,
                  "errors": manager.plugin_errors()}))
"""


@pytest.mark.slow
def test_installed_plugin_adds_component_and_preset(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT / "examples" / "plugin_example")],
        check=True, capture_output=True, timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert "length_penalty" in data["plugins"] and not data["errors"]
    # 3000 extra chars -> (3000+len-2000)/2000 over the soft limit, weight 0.5
    assert -0.5 <= data["components"]["length_penalty"] < -0.25
    assert data["components"]["step_rvr"] == 0.0  # junk after the answer
    blocked = subprocess.run([sys.executable, "-c", "import stepreward.manager as m; print(m.list_plugins())"],
                             env={**env, "STEPREWARD_DISABLE_PLUGINS": "length_penalty"},
                             capture_output=True, text=True, timeout=120)
    assert "length_penalty" not in blocked.stdout
