"""instruments: pymeasure drivers, the Schedule → hardware compiler, the measurement
procedure and a virtual lab that speaks SCPI over loopback TCP."""

__version__ = "0.1.0"
