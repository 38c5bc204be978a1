"""Output files that are never half-written and never silently replace the user's files.

`atomic_output(target)` yields a temporary path in the target's folder; the file is published
under the target name only when the block finishes without an exception.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from makeittalk.errors import OutputFileError


def check_output_path(target: Path, *, overwrite: bool, suffixes: tuple[str, ...] | None = None) -> None:
    """Fail early, with the fix, for outputs that exist, have a wrong suffix or no folder."""
    if suffixes is not None and target.suffix.lower() not in suffixes:
        wanted = " or ".join(suffixes)
        raise OutputFileError(f"{target}: the output must end in {wanted} (got {target.suffix or 'no suffix'!r})")
    if target.is_dir():
        raise OutputFileError(f"{target} is a folder; give a file name")
    if target.exists() and not overwrite:
        raise OutputFileError(f"{target} already exists; choose another name or pass --overwrite")
    if not target.parent.exists():
        raise OutputFileError(f"the output folder {target.parent} does not exist; create it first")


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(partial: Path, target: Path, *, overwrite: bool) -> None:
    """Move a finished temporary file to `target`."""
    if overwrite:
        os.replace(partial, target)
        return
    # A hard link fails if the target appeared meanwhile, so a concurrent writer's file is
    # never replaced; file systems without hard links fall back to a checked rename.
    try:
        os.link(partial, target)
    except FileExistsError:
        raise OutputFileError(f"{target} already exists; choose another name or pass --overwrite") from None
    except OSError:
        if target.exists():
            raise OutputFileError(f"{target} already exists; choose another name or pass --overwrite") from None
        os.replace(partial, target)
        return
    partial.unlink()


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike, *, overwrite: bool = False,
                  suffixes: tuple[str, ...] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; publish it as `target` if the block succeeds."""
    target = Path(target)
    check_output_path(target, overwrite=overwrite, suffixes=suffixes)
    handle, partial_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".partial" + target.suffix,
                                            dir=target.parent)
    os.close(handle)
    partial = Path(partial_name)
    try:
        yield partial
        os.chmod(partial, 0o666 & ~current_umask())
        publish(partial, target, overwrite=overwrite)
    finally:
        partial.unlink(missing_ok=True)
