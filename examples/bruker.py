"""Bruker interoperability in a few lines: simulate a Hahn τ sweep, write it as a BES3T
data set (what Xepr, eprload or EasySpin open), read it back, and export the same sequence
as a PulseSPEL program for an Elexsys.

    python examples/bruker.py OUT_DIR
"""

import sys
from pathlib import Path

import sequences
from echo.bes3t import read_bes3t, write_result
from echo.fit import load
from echo.modelfile import load_model
from echo.simulate import simulate
from sequences.pulsespel import to_pulsespel

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
here = Path(__file__).resolve().parent
hahn = sequences.load("hahn").with_sweep("tau", lin=("2 us", "6 us", 5))
model = load_model(here / "simple.toml")
result = simulate(hahn, model, values={"ideal": 1})     # ideal pulses: quick
written = write_result(result, out / "hahn.DSC")        # hahn.DSC + hahn.DTA
b = read_bes3t(out / "hahn.DSC")
print(f"{written[0].name}: {b.axes[0].name} in {b.axes[0].unit}: {b.axes[0].values}")
data = load(out / "hahn.DSC")                           # what `spinecho compare` reads
print(f"|echo| = {abs(data.y).round(6)} V at tau = {data.x} s")
prog = to_pulsespel(hahn, shots=10, scans=4, repetition_time=1e-3)
print("wrote", *prog.write(out / "hahn"))
