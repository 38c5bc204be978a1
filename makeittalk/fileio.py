"""Output files that are never half-written and never silently replace the user's files.

`atomic_output(target)` yields a temporary path in the target's folder; the file is published
under the target name only when the block finishes without an exception. Writers whose life
spans several calls (the streaming video writer) use its two halves, `new_partial` and
`publish_partial`. `replace_folder` does the same for outputs that are folders (weight sets,
puppets).
"""

from __future__ import annotations

import contextlib
import os
import shutil
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


def new_partial(target: Path, *, suffix: str | None = None) -> Path:
    """An empty temporary file beside `target` (same folder, so publishing is a rename)."""
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix or ".partial" + target.suffix,
                                    dir=target.parent)
    os.close(handle)
    return Path(name)


def publish_partial(partial: Path, target: Path, *, overwrite: bool) -> None:
    """Give the finished `partial` the permissions of a normal new file and publish it as `target`."""
    os.chmod(partial, 0o666 & ~current_umask())  # mkstemp made it private to this user
    publish(partial, target, overwrite=overwrite)


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike, *, overwrite: bool = False,
                  suffixes: tuple[str, ...] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; publish it as `target` if the block succeeds."""
    target = Path(target)
    check_output_path(target, overwrite=overwrite, suffixes=suffixes)
    partial = new_partial(target)
    try:
        yield partial
        publish_partial(partial, target, overwrite=overwrite)
    finally:
        partial.unlink(missing_ok=True)


def normal_permissions(folder: Path, *, recursive: bool = False) -> None:
    """Give a folder made by mkdtemp (0700), and with `recursive` everything in it, the modes
    the user's umask gives new files and folders."""
    umask = current_umask()
    folder.chmod(0o777 & ~umask)
    if recursive:
        for path in folder.rglob("*"):
            path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def replace_folder(staging: Path, target: Path) -> None:
    """Rename the finished folder `staging` to `target`, replacing the folder `target` if it
    exists. If the final rename fails, the old `target` is put back, so it is never lost."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return
    # The old folder is moved aside (not deleted) first: a folder cannot be replaced by one rename.
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    old = aside / target.name
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        os.rmdir(aside)
        raise
    shutil.rmtree(aside, ignore_errors=True)
