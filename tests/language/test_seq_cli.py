"""spinecho check / plot (through the CLI entry point, in-process)."""

from __future__ import annotations

import pytest

from spinecho.cli import main

PROFILE = 'raster = "1 ns"\nmin_pulse = "10 ns"\nmax_amplitude = "1.5 uT"\n'


def test_check_library_name_prints_events(capsys):
    assert main(["check", "hahn"]) == 0
    out = capsys.readouterr().out
    assert "p90" in out and "p180" in out and "echo" in out
    assert "centre 4.05 us" in out  # echo at 2 tau after the pi/2 centre (50 ns + 4 us)


def test_check_with_hardware_ok_and_violations(tmp_path, capsys):
    prof = tmp_path / "hw.toml"
    prof.write_text(PROFILE)
    assert main(["check", "cpmg", "--hardware", str(prof), "--set", "n=3"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out
    code = main(["check", "hahn", "--hardware", str(prof), "--set", "tau=2.0005us",
                 "--set", "amp=1.7"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.count("VIOLATION") >= 4  # amplitudes (x2, full scale x2) and raster edges
    assert "[raster]" in out and "[max_amplitude]" in out and "[full_scale]" in out


def test_check_sweeps_every_point(tmp_path, capsys):
    prof = tmp_path / "hw.toml"
    prof.write_text('max_frequency = "4.5 MHz"\n')
    assert main(["check", "holeburn", "--quiet", "--hardware", str(prof)]) == 1
    out = capsys.readouterr().out
    assert "21 points" in out
    # probes at 4.6 .. 5.0 MHz: p90 and p180 at 5 points each
    assert out.count("VIOLATION [max_frequency]") == 10
    assert "10 violation(s)" in out


def test_check_file_and_errors(tmp_path, capsys):
    f = tmp_path / "s.seq"
    f.write_text("param tau = 1 us\ndelay(tau)\ndetect(1 us)\n")
    assert main(["check", str(f), "--set", "tau=2us"]) == 0
    f.write_text("param tau = 1 us\ndelay(tua)\n")
    assert main(["check", str(f)]) == 2
    err = capsys.readouterr().err
    assert "s.seq:2:7: unknown name 'tua'" in err and "did you mean 'tau'" in err
    assert main(["check", "hahnn"]) == 2
    assert main(["check", "hahn", "--set", "tau=5MHz"]) == 2


def test_plot_writes_png(tmp_path, capsys):
    out = tmp_path / "t.png"
    assert main(["plot", "cpmg", "--set", "n=4", "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert main(["plot", "exorcycle", "--step", "2", "-o", str(out)]) == 0
    assert main(["plot", "hahn", "--step", "9", "-o", str(out)]) == 2


@pytest.mark.parametrize("name", ["hahn", "cpmg", "stimulated", "fid", "nutation",
                                  "holeburn", "inversion_recovery", "exorcycle"])
def test_check_every_library_sequence(name):
    assert main(["check", name, "--quiet"]) == 0


@pytest.mark.parametrize("name, message", [
    ("t.txt", "not an image file name (use .png, .pdf or .svg)"),
    ("missing/t.png", "does not exist"),
])
def test_plot_bad_output_is_a_clean_error(tmp_path, capsys, name, message):
    out = tmp_path / name
    assert main(["plot", "hahn", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"-o {out}: " in err and message in err and "Traceback" not in err
    assert not out.exists()
