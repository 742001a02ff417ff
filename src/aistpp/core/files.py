"""Reading input files safely: regular files only (a FIFO or a device never hangs a run),
with a size cap, and OS errors turned into one-line ``AistppError``s naming the file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from aistpp.errors import AistppError

MAX_TEXT_BYTES = 256 << 20  # JSON, TOML and text lists larger than this are refused


def os_reason(exc: OSError) -> str:
    """The OS's reason for ``exc``, with a hint where the usual one misleads."""
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    return exc.strerror or str(exc)


def check_regular(path: Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise AistppError("is a folder, expected a file", path)
    if not stat.S_ISREG(st.st_mode):
        raise AistppError("not a regular file (a pipe, socket or device?); refusing to read it", path)


def read_regular_bytes(path: str | Path, max_bytes: int = MAX_TEXT_BYTES, what: str = "file") -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes`` bytes.

    Opened non-blocking, so a named pipe is refused at once instead of waiting for a writer.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise AistppError("file not found", path) from None
    except IsADirectoryError:
        raise AistppError("is a folder, expected a file", path) from None
    except OSError as exc:
        raise AistppError(f"cannot read file ({os_reason(exc)})", path) from None
    try:
        st = os.fstat(fd)
        check_regular(path, st)
        if st.st_size > max_bytes:
            raise AistppError(f"{what} of {st.st_size} bytes is larger than the {max_bytes >> 20} MiB aistpp reads", path)
        chunks, total = [], 0
        with os.fdopen(fd, "rb", closefd=False) as f:
            while True:
                chunk = f.read(1 << 24)
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise AistppError(f"{what} larger than the {max_bytes >> 20} MiB aistpp reads", path)
                chunks.append(chunk)
        return b"".join(chunks)
    except MemoryError:
        raise AistppError("not enough memory to read this file", path) from None
    except OSError as exc:
        raise AistppError(f"cannot read file ({os_reason(exc)})", path) from None
    finally:
        os.close(fd)


def read_regular_text(path: str | Path, max_bytes: int = MAX_TEXT_BYTES, what: str = "text file") -> str:
    """``read_regular_bytes`` decoded as UTF-8 (errors name the file)."""
    data = read_regular_bytes(path, max_bytes, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AistppError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None


def check_regular_path(path: str | Path) -> Path:
    """Refuse ``path`` unless it is a regular file (for readers that open it themselves)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AistppError("file not found", path) from None
    except OSError as exc:
        raise AistppError(f"cannot read file ({os_reason(exc)})", path) from None
    check_regular(path, st)
    return path
