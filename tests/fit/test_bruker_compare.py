"""``spinecho compare`` on a BES3T file: a "measured" Hahn τ sweep (the engine's
prediction at known parameters, ×1.2, plus noise of known σ — the set-up of
test_engine_fit) exported with ``spinecho bruker export`` is fitted with the simulator in
the loop, and the known σ and amplitude come back."""

from __future__ import annotations

import json
import math

import numpy as np
import test_engine_fit as tef

from echo.fit import from_arrays
from echo.fit.model_fit import Dataset, engine_simulator
from echo.result import build_result
from sequences.model import Sequence
from spinecho.cli import main


def test_compare_fits_a_bes3t_export(tmp_path, capsys):
    seq = Sequence.load("hahn")
    taus = tef.TAUS
    schedules = [seq.bind(tau=t) for t in taus]
    clean = engine_simulator("fast")(tef.small_model(),
                                     Dataset(from_arrays(taus, np.zeros(taus.size)), schedules))
    rng = np.random.default_rng(11)
    y = clean * 1.2 + tef.NOISE * (rng.normal(size=taus.size) + 1j * rng.normal(size=taus.size))
    res = build_result(schedules=schedules, times=[np.zeros(1)] * taus.size,
                       window_index=[np.zeros(1, int)] * taus.size,
                       trace=[np.full((2, 1), v) * np.array([[1], [-1]]) for v in y],
                       params=[{"tau": t} for t in taus],
                       attrs={"kind": "measured", "sequence": seq.source})
    nc = res.save(tmp_path / "run.nc")
    dsc = tmp_path / "hahn.DSC"
    assert main(["bruker", "export", str(nc), "-o", str(dsc)]) == 0
    model = tmp_path / "model.toml"
    model.write_text(tef.MODEL_TOML)
    out = tmp_path / "report"
    rc = main(["compare", str(dsc), "--sequence", "hahn", "--model", str(model), "--fit",
               "sigma=7e4,amplitude", "-o", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr()
    p = json.loads((out / "summary.json").read_text())["fits"]["model fit"]["params"]
    assert abs(p["sigma"]["value"] - 1e5) < 4 * p["sigma"]["stderr"]
    assert math.isclose(p["amplitude"]["value"], 2.4e11, rel_tol=0.1)  # 1.2·N·g·S
