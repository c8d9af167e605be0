"""Quarantine zone: bytes are kept exactly, refusals are explained in reason.json, passes move
to pre-curated only after their checksum is verified."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from genolake.lake.config import LakeConfig, ScanLimits
from genolake.lake.errors import ConfigError, InputError, LakeStateError, NotFoundError, ScanFailed
from genolake.lake.quarantine import (
    REASON_FILE,
    QuarantineEntry,
    list_quarantined,
    promote,
    receive,
    show,
    write_reason,
)
from genolake.lake.scans import scan_file
from genolake.lake.zones import Zones

from conftest import SHARED as DATA  # noqa: E402  (the shared test data, found relative to the repo)
BGZF_VCF = DATA / "vcf" / "1000G.phase3.broad.withGenotypes.chr20.10100000.vcf.gz"
DAY = dt.date(2024, 3, 5)


@pytest.fixture
def zones(tmp_path) -> Zones:
    return Zones(LakeConfig(root=tmp_path / "lake"))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(d: Path) -> list[str]:
    """Temp files a writer would leave behind if a rename were missing."""
    return [p.name for p in d.rglob(".*.part")]


def test_receive_copies_bytes_exactly(zones):
    path, digest = receive(BGZF_VCF, zones, "acme", "run-1", day=DAY)
    assert path == zones.root / "quarantine" / "acme" / "2024" / "03" / "05" / "run-1" / BGZF_VCF.name
    assert path.read_bytes() == BGZF_VCF.read_bytes()
    assert digest == sha(BGZF_VCF) == sha(path)
    assert leftovers(zones.root) == []


def test_receive_defaults_to_today_utc(zones):
    path, _ = receive(DATA / "vcf" / "haploid.vcf", zones, "acme", "run-2")
    today = dt.datetime.now(dt.timezone.utc).date()
    assert path.parent.parent == zones.raw_dir("quarantine", "acme", today)


def test_receive_refuses_bad_input(zones, tmp_path):
    with pytest.raises(InputError, match="file not found"):
        receive(tmp_path / "missing.vcf", zones, "acme", "run-1", day=DAY)
    with pytest.raises(InputError, match="not a regular file"):
        receive(tmp_path, zones, "acme", "run-1", day=DAY)
    with pytest.raises(ConfigError):
        receive(BGZF_VCF, zones, "../evil", "run-1", day=DAY)
    with pytest.raises(ConfigError):
        receive(BGZF_VCF, zones, "acme", "../run", day=DAY)
    (tmp_path / REASON_FILE).write_text("{}")
    with pytest.raises(InputError, match="cannot be named reason.json"):
        receive(tmp_path / REASON_FILE, zones, "acme", "run-1", day=DAY)


def test_promote_moves_verified_copy(zones):
    q, digest = receive(BGZF_VCF, zones, "acme", "run-3", day=DAY)
    dest = promote(q, zones, "acme", "run-3", digest, day=DAY)
    assert dest == zones.root / "pre-curated" / "acme" / "2024" / "03" / "05" / "run-3" / BGZF_VCF.name
    assert sha(dest) == sha(BGZF_VCF) == digest
    assert not q.exists() and not q.parent.exists()  # quarantine copy and its empty run folder gone
    assert leftovers(zones.root) == []


def test_promote_refuses_checksum_mismatch(zones):
    q, digest = receive(BGZF_VCF, zones, "acme", "run-4", day=DAY)
    q.write_bytes(q.read_bytes()[:-1])  # altered after receipt
    with pytest.raises(LakeStateError, match="stays in quarantine"):
        promote(q, zones, "acme", "run-4", digest, day=DAY)
    assert q.exists()  # nothing lost
    dest_dir = zones.raw_dir("pre-curated", "acme", DAY) / "run-4"
    assert not (dest_dir / BGZF_VCF.name).exists()
    assert leftovers(zones.root) == []


def test_promote_missing_file(zones, tmp_path):
    with pytest.raises(NotFoundError):
        promote(tmp_path / "nope.vcf", zones, "acme", "run-5", "0" * 64, day=DAY)


def _quarantine_truncated(zones, tmp_path, run_id, day) -> tuple[Path, Path, ScanFailed]:
    src = tmp_path / f"{run_id}.vcf.gz"
    src.write_bytes(BGZF_VCF.read_bytes()[:50_000])
    q, digest = receive(src, zones, "acme", run_id, day=day)
    with pytest.raises(ScanFailed) as ei:
        scan_file(q, "vcf", ScanLimits())
    err = ei.value
    reason = write_reason(
        q.parent,
        source=str(src),
        error=err,
        scan_report=err.scan_report,
        run_id=run_id,
        kind="vcf",
        sha256=digest,
        extra={"tenant": "acme"},
    )
    return q, reason, err


def test_reason_json_for_scan_failure(zones, tmp_path):
    q, reason_path, err = _quarantine_truncated(zones, tmp_path, "run-6", DAY)
    assert reason_path == q.parent / REASON_FILE
    text = reason_path.read_text()
    assert text.startswith("{\n  ")  # indented for people
    doc = json.loads(text)
    assert doc["status"] == "quarantined"
    assert doc["file"] == str(tmp_path / "run-6.vcf.gz")
    assert doc["quarantined_as"] == str(q)
    assert doc["scan"] == "integrity" and doc["line"] is None
    assert doc["problem"] == err.problem and "truncated BGZF" in doc["problem"]
    assert doc["message"] == str(err) and "\n" not in doc["message"]
    assert doc["run_id"] == "run-6" and doc["kind"] == "vcf" and doc["tenant"] == "acme"
    assert doc["sha256"] == sha(q)
    received = dt.datetime.fromisoformat(doc["received_at"])
    assert received.tzinfo is not None and received.utcoffset() == dt.timedelta(0)
    assert doc["scan_report"]["checks"][-1] == {
        "scan": "integrity",
        "status": "fail",
        "detail": err.problem,
        "line": None,
    }
    assert "again" in doc["what_to_do"]
    assert q.read_bytes() == BGZF_VCF.read_bytes()[:50_000]  # refused file kept as received
    assert leftovers(zones.root) == []


def test_reason_json_for_phi_line_and_other_errors(zones, tmp_path):
    d = zones.raw_dir("quarantine", "acme", DAY) / "run-7"
    err = ScanFailed("x.vcf", "possible PHI in the header: an email address", scan="phi", line=3)
    doc = json.loads(
        write_reason(d, source="x.vcf", error=err, scan_report=None, run_id="run-7", kind="vcf", sha256=None).read_text()
    )
    assert doc["line"] == 3 and doc["scan"] == "phi" and doc["message"] == "x.vcf:3: possible PHI in the header: an email address"
    assert "de-identify" in doc["what_to_do"]

    d2 = zones.raw_dir("quarantine", "acme", DAY) / "run-8"
    doc = json.loads(
        write_reason(
            d2, source="y.tsv", error=InputError("y.tsv", "missing column Start", line=1), scan_report=None,
            run_id="run-8", kind="clinvar", sha256="ab" * 32,
        ).read_text()
    )
    assert doc["scan"] is None and doc["line"] == 1 and doc["problem"] == "missing column Start"

    d3 = zones.raw_dir("quarantine", "acme", DAY) / "run-9"
    doc = json.loads(
        write_reason(
            d3, source="z.vcf", error=RuntimeError("disk\nfull"), scan_report=None, run_id="run-9", kind="vcf", sha256=None
        ).read_text()
    )
    assert doc["problem"] == "RuntimeError: disk full" and doc["message"] == "disk full"


def test_list_and_show(zones, tmp_path):
    assert list_quarantined(zones) == []
    _quarantine_truncated(zones, tmp_path, "old-run", dt.date(2023, 12, 31))
    q_new, _, _ = _quarantine_truncated(zones, tmp_path, "new-run", DAY)
    # a file that passed and was promoted is not a quarantine entry
    q_ok, digest = receive(DATA / "vcf" / "haploid.vcf", zones, "acme", "ok-run", day=DAY)
    promote(q_ok, zones, "acme", "ok-run", digest, day=DAY)
    # a received file still being scanned (no reason.json yet) is not listed either
    receive(DATA / "vcf" / "sample.vcf", zones, "acme", "scanning-run", day=DAY)

    entries = list_quarantined(zones)
    assert [e.entry_id for e in entries] == ["new-run", "old-run"]  # newest first
    e = show(zones, "new-run")
    assert isinstance(e, QuarantineEntry)
    assert e.dir == q_new.parent and e.file == q_new
    assert e.tenant == "acme" and e.day == DAY
    assert e.reason["scan"] == "integrity"
    assert e.to_dict()["day"] == "2024-03-05"
    assert show(zones, "old-run").day == dt.date(2023, 12, 31)


def test_show_unknown_entry(zones):
    with pytest.raises(NotFoundError, match="no-such-run"):
        show(zones, "no-such-run")
