"""Averaging until a target SNR, watched live, on a virtual lab of its own: a Hahn τ sweep
where every point averages whole phase cycles until its echo SNR (estimated from the
blocks' scatter) reaches 1500, or its share of a 60 s budget is spent; the SNR of each
point is saved beside it, and OUT/live.png is redrawn after every point (headless: the Agg
backend; with a display a window opens too).

    python examples/target_snr_live.py OUT_DIR
"""

import sys
from pathlib import Path

import spinecho
from instruments.virtual.lab import VirtualLab, config_from_dict, default_config

out = Path(sys.argv[1] if len(sys.argv) > 1 else "snr_example")
cfg = default_config()
cfg["model"]["ensemble"]["n_samples"] = 64     # a small sample: quick shots
cfg["digitizer"]["noise_rms"] = 0.1            # V per sample per shot (0.2 Φ0)
with VirtualLab(config_from_dict(cfg), ephemeral=True) as lab:
    lab_file = out.parent / f"{out.name}_lab.toml"
    lab_file.parent.mkdir(parents=True, exist_ok=True)
    lab.client_lab_file(lab_file)
    result = spinecho.measure("hahn", lab_file, out, values={"window": "1 us"},
                              sweep={"tau": ["2 us", "3 us", "4 us", "5 us"]},
                              target_snr=1500, time_budget=60, live=out / "live.png")
snr = result.attrs["snr"]
print(f"|echo| = {abs(result.amplitude).round(4)} V; SNR per point {snr}; "
      f"live plot {out / 'live.png'}")
