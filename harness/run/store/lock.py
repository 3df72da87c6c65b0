"""One driver per run directory, and nothing in it followed through a symlink."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from harness.errors import InputError, TiersweepError
from harness.run.store.layout import ANOTHER_RUN_DIR, LOCK, PARTS, RUN_FILES, STORE_LOCK

# Directories whose lock this process holds (RunLock.reuse).
_HELD: set[Path] = set()


def refuse_symlinks(out_dir: Path) -> None:
    """A run writes only what it creates in its directory: an entry of the
    run-directory layout that is a symbolic link (planted to make the run
    write elsewhere) is an error."""
    for name in RUN_FILES:
        p = Path(out_dir) / name
        if p.is_symlink():
            raise InputError(f"{p}: is a symbolic link; a run directory's files are not "
                                 f"followed through links (remove it, or {ANOTHER_RUN_DIR})")


class RunLock:
    """An flock on DIR/.lock (freed when the process dies), opened without
    following a symlink. A second RunLock on a held directory fails, in this
    process too; `reuse` is for a run inside a command that took it."""

    def __init__(self, out_dir: Path, shared: bool = False):
        self.dir = Path(out_dir)
        self.path = self.dir / LOCK
        self._fd: int | None = None
        self._created = False
        # Shared: several drivers of one study on a database storage work in the
        # directory at once (each writes its own part files); any other run excludes them.
        self.shared = shared

    @classmethod
    @contextlib.contextmanager
    def reuse(cls, out_dir: Path, shared: bool = False) -> Iterator[None]:
        """The lock of out_dir: this process's if it holds it already (the
        command takes it before Ray starts), else taken here."""
        if Path(out_dir).resolve() in _HELD:
            yield
            return
        with cls(out_dir, shared=shared):
            yield

    def __enter__(self) -> RunLock:
        if self.dir.exists() and not self.dir.is_dir():
            raise InputError(f"{self.dir}: is not a directory; {ANOTHER_RUN_DIR}")
        self._created = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        refuse_symlinks(self.dir)
        for _ in range(100):
            fd = self._open()
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise InputError(f"{self.dir}: in use by another tiersweep process "
                                     f"(pid {holder}); wait for it or {ANOTHER_RUN_DIR}") from None
            # The holder before us removes the file on release: a lock on a file no
            # longer at the path guards nothing, so open the path's new file again.
            try:
                same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        else:  # pragma: no cover - a hundred releases in a row
            raise TiersweepError(f"{self.path}: cannot take the lock (it keeps changing)")
        if not self.shared:  # one holder: name it (shared holders are several)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        _HELD.add(self.dir.resolve())
        return self

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                           0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputError(f"{self.path}: is a symbolic link; not followed (remove "
                                     f"it, or {ANOTHER_RUN_DIR})") from None
            raise InputError(f"{self.path}: cannot open: {exc.strerror}") from None

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            _HELD.discard(self.dir.resolve())
            # Removed while still held (a finished run directory keeps no .lock); a
            # process that opened the old file sees it gone and opens the new one. A
            # shared holder removes it only when it is the last (it can take it alone).
            last = True
            if self.shared:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    last = False
            if last:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
                with contextlib.suppress(OSError):  # no empty parts/ left behind
                    (self.dir / PARTS).rmdir()
                if self._created:  # nor an empty run directory (Ray did not start)
                    with contextlib.suppress(OSError):
                        self.dir.rmdir()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def store_lock(out_dir: Path) -> Iterator[None]:
    """A short exclusive lock around the read-modify-writes of a run directory
    (merging part files, updating the manifest): drivers sharing a directory
    take turns. Blocking; the file is left in place (it is tiny)."""
    path = Path(out_dir) / STORE_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
