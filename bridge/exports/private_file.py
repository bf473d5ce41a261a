"""Writing a plaintext export where the caregiver asked, without leaving it readable by anyone else.

An export is written to a new file made beside the target (`tempfile.mkstemp`: a fresh inode, mode
0600, an unguessable name, created with O_EXCL so it can never be an existing file or a link), then
put in place by name:

- without `overwrite`, by a hard link, which fails if the name exists in any form (a file, a
  directory, a symbolic link, dangling or not), so nothing is replaced, even by a race;
- with `overwrite`, by `os.replace` (rename), which swaps the directory entry itself: the old file's
  mode, owner and other hard links are left behind with the old inode, and a symbolic link at the
  name is replaced, never followed.

A symbolic link at the target is refused either way: the caregiver named a path, and a link there
means someone may be pointing the export at a place they can read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import IO

#: Filesystems that cannot hard-link (some FUSE and network mounts) say so with one of these.
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


class SymlinkRefused(FileExistsError):
    """The export's target is a symbolic link; nothing is written through it."""


def check_target(path: Path, overwrite: bool) -> None:
    """Refuse a target that is a symbolic link, a directory, or (without `overwrite`) any existing
    name. Checked again, without a race, when the file is put in place."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise SymlinkRefused(f"{path} is a symbolic link; refusing to write an export through it.")
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path} is a folder; name a file to write.")
    if not overwrite:
        raise FileExistsError(f"{path} already exists (use --force to replace it)")


class PrivateFile:
    """A new 0600 file beside `target`; `commit()` puts it at `target`, `discard()` removes it."""

    def __init__(self, target: Path) -> None:
        self.target = target
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        self.partial = Path(name)
        self.stream: IO[bytes] = os.fdopen(fd, "wb")

    def commit(self, overwrite: bool) -> None:
        """Flush to disk and put the file at the target (see the module's note for how)."""
        if not self.stream.closed:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            self.stream.close()
        check_target(self.target, overwrite)
        if overwrite:
            os.replace(self.partial, self.target)
        else:
            self._link_no_replace()
        _sync_dir(self.target.parent)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()
        self.partial.unlink(missing_ok=True)

    def _link_no_replace(self) -> None:
        try:
            os.link(self.partial, self.target, follow_symlinks=False)
        except FileExistsError:
            check_target(self.target, overwrite=False)  # says which: a link, a folder or a file
            raise
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            # No hard links here: the check just made is the best left; rename still never follows a
            # link, so a race can at worst replace a name, not write through it.
            os.replace(self.partial, self.target)
            return
        self.partial.unlink()


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform or filesystem lets a folder be synced
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
