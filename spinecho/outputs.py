"""Checks of output paths given on the command line, made before any work is done, so
that a long simulation or measurement never ends in a failed write."""

from __future__ import annotations

from pathlib import Path

#: file types matplotlib's Agg-based savefig writes (matplotlib 3.x)
IMAGE_SUFFIXES = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff",
                  "webp", "gif", "avif", "pgf", "raw", "rgba")


def check_output(flag: str, path, *, image: bool = False) -> None:
    """Raise :class:`spinecho.cli.UserError` if ``path`` cannot be written: its directory
    does not exist, or (``image``) its suffix is not an image type matplotlib writes."""
    from spinecho.cli import UserError

    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{flag} {path}: is a directory; give a file name")
    if not p.parent.is_dir():
        raise UserError(f"{flag} {path}: directory {str(p.parent)!r} does not exist")
    if image:
        suffix = p.suffix.lower().lstrip(".")
        if suffix not in IMAGE_SUFFIXES:
            raise UserError(f"{flag} {path}: not an image file name (use .png, .pdf or .svg)")
