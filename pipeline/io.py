"""Atomic writes: every output is written to a temporary file beside its target and renamed into
place, so a crash or Ctrl-C never leaves a half-written file where a finished one is expected. The
result has the permissions a plain write would give (0666/0777 less the umask), not the owner-only
ones of a temporary file."""
from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import InputError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target.name), suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        give_plain_mode(tmp_path)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; it replaces ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        give_plain_mode(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def exclusive(folder: str | os.PathLike, holder: str) -> Iterator[None]:
    """Hold ``folder`` for one process at a time: a lock on the folder itself (no file added to an
    output), released when the process ends, however it ends. A second taker stops with one line
    saying ``holder`` (e.g. "another decode of this dataset is running")."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{folder}: {holder}. Fix: wait for it to finish (or stop it), then run "
                             "again") from None
        yield
    finally:
        os.close(fd)


def _temp_prefix(name: str) -> str:
    """'.<name>.', or for a long name (a file name holds at most 255 bytes, and the temporary one
    adds to it) its first bytes and a digest of the whole: each target keeps a prefix of its own."""
    raw = name.encode(errors="surrogateescape")
    if len(raw) <= 64:
        return f".{name}."
    head = raw[:40].decode(errors="ignore")
    return f".{head}~{hashlib.sha256(raw).hexdigest()[:16]}."


def leftover_temps(folder: str | os.PathLike, name: str) -> list[Path]:
    """The temporary files or folders that atomic writes of ``folder/name`` left behind (a process
    killed while writing)."""
    return sorted(Path(folder).glob(glob.escape(_temp_prefix(name)) + "*.tmp"))


def name_fits(folder: str | os.PathLike, name: str) -> bool:
    """Whether ``folder``'s file system stores a file called ``name`` (ext4: 255 bytes)."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    return len(name.encode(errors="surrogateescape")) <= limit


def give_plain_mode(path: Path) -> None:
    """The mode a plain write gives (0666 for a file, 0777 for a folder, less the umask), in place of
    a temporary file's owner-only one."""
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~_umask())


def _umask() -> int:
    """The process's umask, read without setting it (os.umask would change it for every thread)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc (macOS): read it by setting it, then put it back
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_parquet(path: str | os.PathLike, table: pa.Table, metadata: dict[str, Any] | None = None,
                  compression: str = "zstd") -> None:
    """Write ``table`` atomically; ``metadata`` values are stored JSON-encoded in the schema."""
    if metadata:
        extra = {k.encode(): json.dumps(v).encode() for k, v in metadata.items()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp, compression=compression)


def read_parquet_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata written by :func:`write_parquet` (pandas' own entry left out)."""
    raw = pq.read_schema(path).metadata or {}
    out = {}
    for key, value in raw.items():
        name = key.decode()
        if name == "pandas":
            continue
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value.decode()
    return out


def sha256_prefix(path: str | os.PathLike, n: int = 12) -> str:
    """The first ``n`` hex digits of a file's SHA-256 (model files: a changed model re-runs the pose stage)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:n]
