"""χ''(ω) by lock-in, end to end on a virtual lab of its own: serve the SR830 of
``chi_virtual_lab.toml`` on a free loopback port, sweep 21–101 kHz, convert X/Y to χ''
with the stated calibration, fit Eq. 7 (A, Δ0) and compare with the sample's true values
(A = 2π·Δ0·W(0) = 0.2094, Δ0 = 10 kHz: ``chi_model.toml``).

    python examples/chi_lockin.py OUT_DIR
"""

import math
import sys
from pathlib import Path

from instruments.chi import ChiOptions, measure_chi
from instruments.virtual.lab import VirtualLab, load_config

out = Path(sys.argv[1] if len(sys.argv) > 1 else "chi_example")
here = Path(__file__).resolve().parent
with VirtualLab(load_config(here / "chi_virtual_lab.toml"), ephemeral=True) as lab:
    text = (here / "lab_chi_virtual.toml").read_text(encoding="utf-8")
    lab_file = out.parent / f"{out.name}_lab.toml"  # the client file, at the served port
    lab_file.parent.mkdir(parents=True, exist_ok=True)
    lab_file.write_text(text.replace("TCPIP::127.0.0.1::5027::SOCKET",
                                     lab.resources["lockin"]), encoding="utf-8")
    opts = ChiOptions(f_start=21e3, f_stop=101e3, points=30, amplitude_v=0.004,
                      time_constant=0.003, reads=6)
    run = measure_chi(lab_file, here / "chi_model.toml", out, opts)
print(f"{run.frequency.size} frequencies in {out}/results.csv; G = "
      f"{run.calibration.gain(opts.amplitude_v):.6g} V/s; {'; '.join(run.safe_report)}")
fit = run.fit()  # A and Δ0 free, λ = 0: Eq. 7
print(fit.table())
for name, true in (("fraction_a", 2 * math.pi * 1e4 / 3e5), ("delta0", 1e4)):
    v, s = fit.value(name), fit.stderr(name)
    print(f"{name}: {v:.6g} ± {s:.2g} (true {true:.6g}: {(v - true) / s:+.2f} σ)")
