"""The examples of docs/sequences.md work as written."""

from __future__ import annotations

import math
import re
from pathlib import Path

from sequences import load, parse

DOC = Path(__file__).resolve().parents[2] / "docs" / "sequences.md"


def _blocks(lang: str = "") -> list[str]:
    found = re.findall(r"```(\w*)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return [body for tag, body in found if tag == lang]


def test_first_example_is_the_library_hahn_echo():
    first = next(b for b in _blocks() if b.startswith("# Hahn echo"))
    seq = parse(first, filename="doc.seq")
    lib = load("hahn")
    s, ref = seq.bind(), lib.bind()
    assert [(p.start, p.duration, p.phases) for p in s.pulses] == \
        [(p.start, p.duration, p.phases) for p in ref.pulses]
    assert s.windows == ref.windows and s.receiver == ref.receiver


def test_python_api_examples_run_exactly_as_written():
    """Every Python block of the page runs as written, in a fresh namespace (nothing
    prepended: a missing import in the docs is a failure here)."""
    for block in _blocks("python"):
        exec(compile(block, str(DOC), "exec"), {})
    code = next(b for b in _blocks("python") if "from sequences import param" in b)
    ns: dict = {}
    exec(compile(code, str(DOC), "exec"), ns)  # our own doc text
    hahn = ns["hahn"]
    (w,) = hahn.bind().windows
    p90 = hahn.bind().pulses[0]
    assert math.isclose(w.start + w.duration / 2 - p90.centre, 4e-6, abs_tol=1e-15)


def test_with_params_and_with_sweep():
    seq = load("hahn").with_params(tau="3 us", t90=80e-9)
    s = seq.bind()
    assert math.isclose(s.pulses[1].centre - s.pulses[0].centre, 3e-6, abs_tol=1e-15)
    assert math.isclose(s.pulses[0].duration, 80e-9)
    sw = seq.with_sweep("tau", lin=("1 us", "2 us", 3)).with_sweep("f", ["3 MHz", "5 MHz"])
    pts = sw.sweep_points()
    assert len(pts) == 6 and [p["f"] for p in pts[:2]] == [3e6, 5e6]
    assert parse(sw.to_text()) == sw
