"""1000 Genomes panel reader: the real phase-3 panel against a plain split() parse, and bad panels."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from genolake.etl.sources.panel import PANEL_SCHEMA, read_panel
from genolake.lake.errors import InputError
from genolake.lake.schemas import SAMPLES

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PANEL = SHARED / "panel" / "integrated_call_samples_v3.20130502.ALL.panel"


@pytest.fixture(scope="module")
def plain():
    """The oracle: one whitespace split per line."""
    lines = PANEL.read_text().splitlines()
    assert lines[0].split() == ["sample", "pop", "super_pop", "gender"]
    return [line.split() for line in lines[1:] if line.strip()]


def test_real_panel_matches_plain_parse(plain):
    t = read_panel(PANEL)
    assert t.schema.equals(PANEL_SCHEMA)
    assert t.column_names == ["sample_id", "population", "super_population", "sex"]
    for name in t.column_names:
        assert t.schema.field(name).type == SAMPLES.schema.field(name).type
    assert t.num_rows == len(plain) == 2535
    assert t.to_pylist() == [
        {"sample_id": s, "population": p, "super_population": sp, "sex": g} for s, p, sp, g in plain
    ]
    assert t.column("sample_id").to_pylist()[:2] == ["HG00096", "HG00097"]


def test_real_panel_counts(plain):
    t = read_panel(PANEL)
    assert Counter(t.column("super_population").to_pylist()) == {
        "AFR": 669, "AMR": 352, "EAS": 515, "EUR": 505, "SAS": 494}
    pops = Counter(t.column("population").to_pylist())
    assert pops == Counter(row[1] for row in plain)
    assert len(pops) == 26 and pops["GBR"] == Counter(r[1] for r in plain)["GBR"]
    assert Counter(t.column("sex").to_pylist()) == Counter(row[3] for row in plain)
    assert set(t.column("sex").to_pylist()) == {"male", "female"}


def test_space_separated_with_sex_column_and_empty_values(tmp_path):
    p = tmp_path / "p.panel"
    p.write_text("sample pop super_pop sex\nA1  GBR EUR female\nA2 YRI AFR\n\n")
    assert read_panel(p).to_pylist() == [
        {"sample_id": "A1", "population": "GBR", "super_population": "EUR", "sex": "female"},
        {"sample_id": "A2", "population": "YRI", "super_population": "AFR", "sex": None},
    ]
    q = tmp_path / "q.panel"
    q.write_text("sample\tpop\tsuper_pop\tgender\t\t\nB1\t\tEUR\tmale\nB2\tCEU\t\t\t\n")
    assert read_panel(q).to_pylist() == [
        {"sample_id": "B1", "population": None, "super_population": "EUR", "sex": "male"},
        {"sample_id": "B2", "population": "CEU", "super_population": None, "sex": None},
    ]


def test_only_required_columns(tmp_path):
    p = tmp_path / "p.panel"
    p.write_text("sample\tpop\nA1\tGBR\n")
    assert read_panel(p).to_pylist() == [
        {"sample_id": "A1", "population": "GBR", "super_population": None, "sex": None}]


def _raises(path) -> InputError:
    with pytest.raises(InputError) as info:
        read_panel(path)
    assert str(info.value).startswith(str(path))
    return info.value


def test_duplicate_sample_names_both_lines(tmp_path):
    p = tmp_path / "dup.panel"
    p.write_text("sample\tpop\tsuper_pop\tgender\nA1\tGBR\tEUR\tmale\nA2\tGBR\tEUR\tmale\n"
                 "A1\tFIN\tEUR\tfemale\n")
    err = _raises(p)
    assert err.line == 4
    assert err.problem == "sample 'A1' is listed twice, on lines 2 and 4"


def test_missing_columns(tmp_path):
    p = tmp_path / "nopop.panel"
    p.write_text("sample\tsuper_pop\tgender\nA1\tEUR\tmale\n")
    err = _raises(p)
    assert err.line == 1 and "missing required panel columns: pop" in err.problem
    q = tmp_path / "none.panel"
    q.write_text("id\tgroup\nA1\tEUR\n")
    err = _raises(q)
    assert err.line == 1 and "missing required panel columns: sample, pop" in err.problem


def test_empty_and_header_only(tmp_path):
    p = tmp_path / "empty.panel"
    p.write_text("")
    assert "empty" in _raises(p).problem
    q = tmp_path / "header.panel"
    q.write_text("sample\tpop\tsuper_pop\tgender\n\n")
    assert "no sample lines" in _raises(q).problem


def test_too_many_fields(tmp_path):
    p = tmp_path / "wide.panel"
    p.write_text("sample pop\nA1 GBR\nA2 GBR EUR\n")
    err = _raises(p)
    assert err.line == 3 and err.problem == "expected at most 2 fields, found 3"
