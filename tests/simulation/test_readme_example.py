"""The Python example of README.md runs as written (in a scratch directory that sees the
repository's examples/), and what it saves reads back."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 1, "README.md should hold exactly one Python example"
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own docs
    from echo.result import EchoResult

    res = EchoResult.load(tmp_path / "hahn.nc")
    assert list(res.dataset["tau"].values) == [2e-6, 4e-6, 8e-6]
