"""A measurement's run directory (:class:`RunStore`): ``run.json`` (configuration and
lab snapshot), ``results.csv`` (pymeasure Results, columns :data:`COLUMNS`),
``points/point_NNNNN.npz`` (one :class:`PointData` per point, written atomically) and
``result.nc`` (the :class:`echo.result.EchoResult`). Resume checks, torn-row repair and
durable renames live here."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instruments.errors import InstrumentError

log = logging.getLogger(__name__)

#: the extra columns of a run averaged to a target (:mod:`instruments.averaging`)
SNR_COLUMNS = ["snr", "snr stderr"]
COLUMNS = ["point", "sweep value", "amplitude re (V)", "amplitude im (V)",
           "amplitude abs (V)", "phase (rad)", "averages", "params"]


class RunDirError(InstrumentError):
    """A run directory that cannot be started or resumed (message says why)."""



@dataclass
class PointData:
    """One measured sweep point: ``trace`` (n_steps, n_t) complex V (demodulated, one
    row per phase-cycle step), ``times`` (s) and ``window_index`` of its samples."""

    index: int
    params: dict
    times: np.ndarray
    window_index: np.ndarray
    trace: np.ndarray
    amplitude: complex
    averages: int
    snr: float = math.nan         # echo SNR estimate (averaging to a target), else NaN
    snr_stderr: float = math.nan


class RunStore:
    """A run directory: ``run.json`` (configuration), ``results.csv`` (pymeasure
    Results), ``points/point_NNNNN.npz`` (per-point traces), ``result.nc`` (EchoResult)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.csv = self.path / "results.csv"
        self.points = self.path / "points"
        self.meta = self.path / "run.json"
        self.result = self.path / "result.nc"

    def prepare(self, config: dict, resume: bool, snapshot: dict | None = None) -> None:
        """Start a run directory (``run.json``: ``config``, the lab ``snapshot``, the
        time) or, with ``resume``, check that ``config`` and the lab's calibration and
        limits (``snapshot["calibration"]``) are those the run started with, and drop a
        torn last row of ``results.csv`` (:meth:`repair_csv`)."""
        if self.meta.exists():
            try:
                old = json.loads(self.meta.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise RunDirError(f"{self.meta} is not readable JSON ({exc}); the run "
                                  "cannot be resumed safely: start a new one") from None
            if not resume:
                raise RunDirError(f"{self.path} already holds a run; use --resume to "
                                  "continue it or choose another -o directory")
            if old.get("config") != config:
                diff = sorted(k for k in set(old.get("config", {})) | set(config)
                              if old.get("config", {}).get(k) != config.get(k))
                raise RunDirError(f"{self.path}: cannot resume, the run was started with a "
                                  f"different {', '.join(diff)}")
            before = (old.get("snapshot") or {}).get("calibration")
            now = (snapshot or {}).get("calibration")
            if before is not None and now is not None and before != now:
                changes = _changes(before, now)
                raise RunDirError(
                    f"{self.path}: cannot resume, the lab file's calibration or limits "
                    f"changed since the run began ({'; '.join(changes[:6])}); points measured "
                    "with both would not compare: start a new run (or restore the lab file)")
            self.repair_csv()
            return
        if self.path.exists() and any(self.path.iterdir()) and not resume:
            raise RunDirError(f"{self.path} exists and is not empty")
        self.points.mkdir(parents=True, exist_ok=True)
        tmp = self.meta.with_suffix(".tmp")
        meta = {"config": config, "created": _now()}
        if snapshot is not None:
            meta["snapshot"] = snapshot
        try:
            text = json.dumps(meta, indent=1, allow_nan=False)
        except ValueError as exc:  # never write NaN/Infinity: run.json must stay JSON
            raise RunDirError(f"run configuration holds a non-finite number ({exc})") from None
        tmp.write_text(text, encoding="utf-8")
        _fsync(tmp)
        os.replace(tmp, self.meta)
        _fsync_dir(self.path)

    def repair_csv(self) -> list[str]:
        """Keep only the complete rows of ``results.csv``: a row counts when it ends in a
        newline (the last byte a row write puts down), has the header's number of
        fields, a point index and no NUL byte; the first row of a point wins. Anything
        else (a row torn by a power cut or a kill mid-write) is dropped, so the point is
        measured again, and the file is rewritten atomically. Returns the dropped text."""
        if not self.csv.exists():
            return []
        raw = self.csv.read_bytes()
        lines = raw.split(b"\n")
        tail = lines.pop()  # after the last newline: b"" unless the last row is torn
        kept: list[bytes] = []
        dropped: list[str] = [tail.decode("utf-8", "replace")] if tail else []
        header = None
        seen: set[int] = set()
        for line in lines:
            text = line.decode("utf-8", "replace")
            if text.startswith("#") and header is None:
                kept.append(line)
                continue
            if header is None:
                header = next(csv.reader([text]), [])
                kept.append(line)
                continue
            row = next(csv.reader([text]), [])
            ok = len(row) == len(header) and b"\0" not in line and "\ufffd" not in text
            if ok:
                try:
                    point = int(float(row[0]))
                except ValueError:
                    ok = False
                else:
                    ok = point >= 0 and point not in seen
                    seen.add(point)
            if ok:
                kept.append(line)
            else:
                dropped.append(text)
        if dropped:
            log.warning("%s: dropped %d torn or malformed row(s): %s", self.csv,
                        len(dropped), "; ".join(d[:60] for d in dropped))
            tmp = self.csv.with_suffix(".tmp")
            tmp.write_bytes(b"".join(k + b"\n" for k in kept))
            _fsync(tmp)
            os.replace(tmp, self.csv)
            _fsync_dir(self.path)
        return dropped

    def csv_points(self) -> set[int]:
        """Point indices with a complete row in the CSV."""
        done: set[int] = set()
        if not self.csv.exists():
            return done
        with open(self.csv, newline="", encoding="utf-8") as fh:
            rows = csv.reader(line for line in fh if not line.startswith("#"))
            header = next(rows, None)
            if header is None:
                return done
            for row in rows:
                if len(row) == len(header):
                    try:
                        done.add(int(float(row[0])))
                    except ValueError:
                        continue
        return done

    def point_file(self, i: int) -> Path:
        return self.points / f"point_{i:05d}.npz"

    def completed(self) -> set[int]:
        return {i for i in self.csv_points() if self.point_file(i).exists()}

    def save_point(self, pd: PointData) -> None:
        self.points.mkdir(parents=True, exist_ok=True)
        final = self.point_file(pd.index)
        tmp = final.with_name(final.stem + ".tmp.npz")
        np.savez(tmp, index=pd.index, params=json.dumps(pd.params), times=pd.times,
                 window_index=pd.window_index, trace=pd.trace,
                 amplitude=np.complex128(pd.amplitude), averages=pd.averages,
                 snr=float(pd.snr), snr_stderr=float(pd.snr_stderr))
        _fsync(tmp)
        os.replace(tmp, final)
        _fsync_dir(self.points)

    def load_point(self, i: int) -> PointData:
        with np.load(self.point_file(i), allow_pickle=False) as z:
            extra = {k: float(z[k]) for k in ("snr", "snr_stderr") if k in z.files}
            return PointData(int(z["index"]), json.loads(str(z["params"])), z["times"],
                             z["window_index"], z["trace"], complex(z["amplitude"]),
                             int(z["averages"]), **extra)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX; a no-op where directories cannot be
    opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _changes(before: dict, now: dict, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every leaf that differs between two snapshots."""
    out = []
    for key in sorted(set(before) | set(now)):
        a, b = before.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def lab_snapshot(config) -> dict:
    """The lab configuration a run records (like a QCoDeS station snapshot):
    ``calibration`` — every role's calibration, driver, channels and the limits (what a
    resumed run must share; connection details excluded) — and ``connection`` (VISA
    resources, timeouts) and the lab file's path and SHA-256."""
    import dataclasses
    import hashlib

    connection_keys = {"resource", "timeout_s", "read_termination", "write_termination"}
    calibration: dict = {"limits": dataclasses.asdict(config.limits)}
    connection: dict = {}
    for role in ("awg", "digitizer", "lockin", "rf_source", "squid"):
        cfg = getattr(config, role, None)
        if cfg is None:
            continue
        d = dataclasses.asdict(cfg)
        d.pop("role", None)
        connection[role] = {k: d.pop(k) for k in list(d) if k in connection_keys}
        calibration[role] = d
    snap = {"calibration": calibration, "connection": connection,
            "lab_file": str(config.path or "")}
    if config.path and Path(config.path).is_file():
        snap["lab_file_sha256"] = hashlib.sha256(Path(config.path).read_bytes()).hexdigest()
    return snap


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
