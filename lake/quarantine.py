"""The quarantine zone: every incoming file lands here first, exactly as received.

Layout (DESIGN.md, "The flow"):

    quarantine/<tenant>/<yyyy>/<mm>/<dd>/<run_id>/<filename>
    quarantine/<tenant>/<yyyy>/<mm>/<dd>/<run_id>/reason.json     (only when refused)
    pre-curated/<tenant>/<yyyy>/<mm>/<dd>/<run_id>/<filename>      (after the scans pass)

Every write is temp file + fsync + rename, so a crash leaves either the old state or the new
one, never a half-written file under a real name. A refused file is never deleted: it stays
beside a reason.json that a person can read. `promote` removes the quarantine copy only after
the pre-curated copy is on disk and its sha256 matches the one taken on receipt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from .config import check_name
from .errors import ConfigError, InputError, LakeStateError, NotFoundError
from .zones import PRE_CURATED, QUARANTINE, Zones

REASON_FILE = "reason.json"
_CHUNK = 1024 * 1024

# One sentence per scan: what the person reading reason.json should do next.
_WHAT_TO_DO = {
    "size": "The file is empty or over the lake's max_file_bytes limit: check the delivery "
    "(or raise ScanLimits.max_file_bytes if the size is expected) and ingest it again.",
    "file_type": "Deliver the data as plain text or bgzip-compressed text (e.g. `bgzip file.vcf`, "
    "`bcftools view -Oz` for BCF), not in another format, and ingest it again.",
    "integrity": "The file is damaged or incomplete: copy or download it again from the source "
    "(`bgzip -t` / `gzip -t` should pass) and ingest it again.",
    "decompression_ratio": "The file expands far beyond the lake's limits (possible decompression bomb): "
    "verify where it came from; if it is genuine, raise ScanLimits.max_decompression_ratio / max_uncompressed_bytes.",
    "phi": "The file appears to contain protected health information at the named line: remove or "
    "de-identify that field and ingest the cleaned file.",
}
_WHAT_TO_DO_INPUT = "Fix the problem at the named file and line (or regenerate the file) and ingest it again."
_WHAT_TO_DO_OTHER = "An unexpected error stopped the checks: read the message, and report it if the file looks correct."


# --------------------------------------------------------------------------------------------
# Atomic file helpers


def _fsync_dir(d: Path) -> None:
    """Make a rename durable: the directory entry itself must reach the disk."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_name(dest: Path) -> Path:
    # Hidden and unique, so listings and concurrent writers never mistake it for the real file.
    return dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.part")


def _copy_hashing(src: Path, dest: Path) -> str:
    """Copy src to dest via a temp file (fsync, rename); sha256 of the bytes copied, one pass."""
    tmp = _temp_name(dest)
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    try:
        with open(src, "rb") as fi, open(tmp, "xb") as fo:
            while n := fi.readinto(buf):
                h.update(view[:n])
                fo.write(view[:n])
            fo.flush()
            os.fsync(fo.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _write_text_atomic(dest: Path, text: str) -> None:
    tmp = _temp_name(dest)
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)


# --------------------------------------------------------------------------------------------
# Receive, refuse, promote


def _run_dir(zones: Zones, zone: str, tenant: str, run_id: str, day) -> Path:
    check_name("tenant", tenant)
    # The run id becomes one path part: refuse anything that could climb or nest.
    if not run_id or run_id in (".", "..") or any(c in run_id for c in "/\\\0") or run_id.startswith("."):
        raise ConfigError(f"run_id {run_id!r} cannot be used as a folder name")
    return zones.raw_dir(zone, tenant, day) / run_id


def receive(src: Path, zones: Zones, tenant: str, run_id: str, *, day=None) -> tuple[Path, str]:
    """Copy `src` byte-for-byte into quarantine/<tenant>/<yyyy>/<mm>/<dd>/<run_id>/.

    Returns (quarantined path, sha256 hex of the bytes copied). The source is left untouched.
    """
    src = Path(src)
    if not src.exists():
        raise InputError(src, "file not found")
    if not src.is_file():
        raise InputError(src, "not a regular file")
    if src.name == REASON_FILE:
        raise InputError(src, f"a delivered file cannot be named {REASON_FILE} (the quarantine uses that name): rename it")
    run_dir = _run_dir(zones, QUARANTINE, tenant, run_id, day)
    run_dir.mkdir(parents=True, exist_ok=True)
    dest = run_dir / src.name
    try:
        sha = _copy_hashing(src, dest)
    except PermissionError as e:
        raise InputError(src, f"cannot read the file: {e.strerror}") from e
    return dest, sha


def write_reason(
    entry_dir: Path,
    *,
    source: str,
    error,
    scan_report: dict | None,
    run_id: str,
    kind: str,
    sha256: str | None,
    extra: dict | None = None,
) -> Path:
    """Write entry_dir/reason.json saying why the file was refused, for a person to read.

    `error` is an InputError/ScanFailed (with .path, .line, .problem and, for scans, .scan)
    or any other exception. Keys in `extra` are added, and may override the defaults
    (e.g. a QC step's own "what_to_do"); "status" stays "quarantined".
    """
    entry_dir = Path(entry_dir)
    scan = getattr(error, "scan", None)
    if hasattr(error, "problem"):
        problem, line = error.problem, getattr(error, "line", None)
        hint = _WHAT_TO_DO.get(scan, _WHAT_TO_DO_INPUT)
    else:
        problem, line = (f"{type(error).__name__}: {error}" if error is not None else "unknown"), None
        hint = _WHAT_TO_DO_OTHER
    now = dt.datetime.now(dt.timezone.utc)
    quarantined_as = entry_dir / Path(str(source)).name
    try:  # the copy's mtime is when it was received; reason.json may be written later
        received = dt.datetime.fromtimestamp(quarantined_as.stat().st_mtime, dt.timezone.utc)
    except OSError:
        received = now
    doc = {
        "status": "quarantined",
        "file": str(source),
        "quarantined_as": str(quarantined_as),
        "line": line,
        "problem": _one_line(problem),
        "scan": scan,
        "message": _one_line(str(error) if error is not None else problem),
        "run_id": run_id,
        "kind": kind,
        "sha256": sha256,
        "received_at": received.isoformat(timespec="seconds"),
        "refused_at": now.isoformat(timespec="seconds"),
        "scan_report": scan_report,
        "what_to_do": hint,
    }
    if extra:
        doc.update(extra)
        doc["status"] = "quarantined"
    entry_dir.mkdir(parents=True, exist_ok=True)
    dest = entry_dir / REASON_FILE
    _write_text_atomic(dest, json.dumps(doc, indent=2, default=str, ensure_ascii=False) + "\n")
    return dest


def _one_line(s: str) -> str:
    return " ".join(str(s).split())


def promote(quarantined: Path, zones: Zones, tenant: str, run_id: str, sha256: str, *, day=None) -> Path:
    """Copy a file that passed the scans to pre-curated/<tenant>/<yyyy>/<mm>/<dd>/<run_id>/.

    The copy is verified against `sha256` (taken on receipt) before the quarantine copy and its
    then-empty run folder are removed. On a mismatch nothing is moved and LakeStateError is raised.
    """
    quarantined = Path(quarantined)
    if not quarantined.is_file():
        raise NotFoundError(f"{quarantined}: quarantined file not found")
    run_dir = _run_dir(zones, PRE_CURATED, tenant, run_id, day)
    run_dir.mkdir(parents=True, exist_ok=True)
    dest = run_dir / quarantined.name
    tmp = _temp_name(dest)
    try:
        # Kernel-side copy (sendfile/copy_file_range), then hash what actually landed on disk.
        shutil.copyfile(quarantined, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        got = _sha256(tmp)
        if got != sha256:
            raise LakeStateError(
                f"{quarantined}: the pre-curated copy has sha256 {got[:12]}…, not {sha256[:12]}… as received; "
                "the file stays in quarantine"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(run_dir)
    quarantined.unlink()
    try:
        quarantined.parent.rmdir()  # only if empty: other files of the same run may remain
    except OSError:
        pass
    _fsync_dir(quarantined.parent.parent)
    return dest


# --------------------------------------------------------------------------------------------
# Listing


@dataclass
class QuarantineEntry:
    """A refused file: its run folder, the file itself and the parsed reason.json."""

    entry_id: str  # the run_id
    dir: Path
    file: Path | None
    reason: dict | None
    tenant: str
    day: dt.date

    def to_dict(self) -> dict:
        return {
            "entry_id": self.entry_id,
            "dir": str(self.dir),
            "file": str(self.file) if self.file else None,
            "tenant": self.tenant,
            "day": self.day.isoformat(),
            "reason": self.reason,
        }


def list_quarantined(zones: Zones) -> list[QuarantineEntry]:
    """Every quarantine run folder holding a reason.json, newest first."""
    base = zones.root / QUARANTINE
    if not base.is_dir():
        return []
    entries = []
    for reason_path in base.glob(f"*/*/*/*/*/{REASON_FILE}"):
        entry = _entry(reason_path)
        if entry is not None:
            entries.append(entry)

    def newest(e: QuarantineEntry):
        received = (e.reason or {}).get("received_at") or ""
        try:
            mtime = (e.dir / REASON_FILE).stat().st_mtime
        except OSError:
            mtime = 0.0
        return (e.day, str(received), mtime, e.entry_id)

    entries.sort(key=newest, reverse=True)
    return entries


def show(zones: Zones, entry_id: str) -> QuarantineEntry:
    """The entry whose run id is `entry_id` (the newest if the id recurs across tenants/days)."""
    for e in list_quarantined(zones):
        if e.entry_id == entry_id:
            return e
    raise NotFoundError(f"no quarantine entry {entry_id!r} under {zones.root / QUARANTINE}: list the entries to see the ids")


def _entry(reason_path: Path) -> QuarantineEntry | None:
    run_dir = reason_path.parent
    parts = run_dir.relative_to(reason_path.parents[5]).parts  # tenant, yyyy, mm, dd, run_id
    tenant, yyyy, mm, dd, run_id = parts
    try:
        day = dt.date(int(yyyy), int(mm), int(dd))
    except ValueError:
        return None  # not a partition folder of ours
    try:
        reason = json.loads(reason_path.read_text(encoding="utf-8"))
        if not isinstance(reason, dict):
            reason = None
    except (OSError, ValueError):
        reason = None  # unreadable reason.json: still listed, so the file is never hidden
    file = None
    if reason and reason.get("file"):
        cand = run_dir / Path(str(reason["file"])).name
        if cand.is_file():
            file = cand
    if file is None:
        others = sorted(p for p in run_dir.iterdir() if p.is_file() and p.name != REASON_FILE and not p.name.startswith("."))
        file = others[0] if others else None
    return QuarantineEntry(entry_id=run_id, dir=run_dir, file=file, reason=reason, tenant=tenant, day=day)
