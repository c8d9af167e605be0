"""Cohorts: the text forms, resolving them against the lake's samples, and the errors a user sees.

Membership is checked against the panels and VCF headers read here (not through genolake); the lake
is test_query_frequencies' six-dataset lake (sp, mt and pc share sample IDs)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
from oracle import have_bcftools

from genolake.lake.errors import QueryError
from genolake.queries.cohorts import COHORT_KEYS, Cohort, cohort_sql, resolve

pytestmark = pytest.mark.skipif(not have_bcftools(), reason="bcftools/tabix not on PATH")


def everyone(ql) -> list[dict]:
    """(dataset, sample_id, population, super_population, sex) of every sample, from the files."""
    rows = []
    for d in ql.vcfs:
        for s in ql.samples(d):
            p = ql.panels[d].get(s, {})
            rows.append({"dataset": d, "sample_id": s, "population": p.get("population"),
                         "super_population": p.get("super_population"), "sex": p.get("sex")})
    return sorted(rows, key=lambda r: (r["dataset"], r["sample_id"]))


def check(ql, cohort, keep):
    want = [r for r in everyone(ql) if keep(r)]
    got = resolve(ql.engine, cohort)
    assert got.column_names == ["dataset", "sample_id", "population", "super_population", "sex"]
    assert got.to_pylist() == want
    # cohort_sql is the same cohort inside any query over samples
    c = Cohort.parse(cohort) if isinstance(cohort, str) or cohort is None else cohort
    via_sql = ql.engine.sql(f"SELECT dataset, sample_id FROM samples WHERE {cohort_sql(c)} ORDER BY dataset, sample_id")
    assert via_sql.to_pylist() == [{"dataset": r["dataset"], "sample_id": r["sample_id"]} for r in want]
    return want


# ------------------------------------------------------------------------------------- parsing


def test_parse_forms():
    assert Cohort.parse(None) == Cohort() == Cohort.parse("") == Cohort.parse("  ;  ")
    assert Cohort().describe() == "all samples" and Cohort().is_everyone
    assert Cohort.parse("super_pop=EAS") == Cohort(super_populations=("EAS",))
    assert Cohort.parse("super_pop=EAS").describe() == "super_pop=EAS"
    assert Cohort.parse("super_pop=EAS,EUR").super_populations == ("EAS", "EUR")
    assert Cohort.parse("pop=CHB").populations == ("CHB",)
    assert Cohort.parse("sex=female").sex == "female" and Cohort.parse("sex=F").sex == "female"
    assert Cohort.parse("samples=HG00096,HG00097").samples == ("HG00096", "HG00097")
    assert Cohort.parse("pattern=HG00*").id_pattern == "HG00*"
    assert Cohort.parse("dataset=1kg").dataset == "1kg"
    c = Cohort.parse(" dataset=sim ; super_population = EAS , EUR; sex=male;pop=CHB;pattern=HG*; samples=A,B ")
    assert c == Cohort(dataset="sim", populations=("CHB",), super_populations=("EAS", "EUR"), sex="male",
                       samples=("A", "B"), id_pattern="HG*")
    assert c.describe() == "dataset=sim; super_pop=EAS,EUR; pop=CHB; sex=male; samples=A,B; pattern=HG*"
    assert Cohort.parse(c.describe()) == c
    many = Cohort(samples=tuple(f"S{i}" for i in range(40)))
    assert many.describe() == "samples=S0,S1,S2,… (40 samples)"
    assert Cohort(samples=["A", "B", "A"]).samples == ("A", "B")  # lists become tuples, repeats dropped


def test_sample_file(tmp_path):
    f = tmp_path / "cohort.txt"
    f.write_text("# my cohort\nsample\tpop\nHG00096\tGBR\n\n  HG00099  # trailing comment\nHG00096\n")
    assert Cohort.parse(f"file={f}").samples == ("HG00096", "HG00099")
    assert Cohort.parse(f"file={f}; dataset=sp") == Cohort(dataset="sp", samples=("HG00096", "HG00099"))
    with pytest.raises(QueryError, match=f"cohort file {tmp_path}/missing.txt: no such file"):
        Cohort.parse(f"file={tmp_path}/missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(QueryError, match="lists no samples"):
        Cohort.parse(f"file={empty}")
    with pytest.raises(QueryError, match="give samples= or file=, not both"):
        Cohort.parse(f"file={f}; samples=A")


@pytest.mark.parametrize("text,fragment", [
    ("colour=blue", "unknown cohort key 'colour' in 'colour=blue'; keys: " + ", ".join(COHORT_KEYS)),
    ("super_pop", "has no '='"),
    ("pop=", "has no value"),
    ("pop=CHB; pop=CEU", "given twice"),
    ("sex=both", "sex 'both' is not one of female, male, unknown"),
    ("sex=male,female", "sex takes one value"),
])
def test_parse_errors(text, fragment):
    with pytest.raises(QueryError) as err:
        Cohort.parse(text)
    assert fragment in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------------------------ resolving


def test_resolve_populations_and_sex(ql):
    eas = check(ql, "super_pop=EAS", lambda r: r["super_population"] == "EAS")
    assert len(eas) == 20 and {r["dataset"] for r in eas} == {"sim"}
    eur = check(ql, "super_pop=EUR", lambda r: r["super_population"] == "EUR")
    assert {r["dataset"] for r in eur} == {"sim", "sp", "mt"}
    check(ql, "pop=CHB,GBR; sex=female", lambda r: r["population"] in ("CHB", "GBR") and r["sex"] == "female")
    check(ql, "sex=unknown", lambda r: r["sex"] is None)
    check(ql, None, lambda r: True)
    check(ql, "dataset=sp", lambda r: r["dataset"] == "sp")
    check(ql, Cohort(dataset="sim", super_populations=("AFR", "EUR"), sex="male"),
          lambda r: r["dataset"] == "sim" and r["super_population"] in ("AFR", "EUR") and r["sex"] == "male")


def test_resolve_samples_across_datasets(ql):
    rows = check(ql, "samples=HG00096,S2", lambda r: r["sample_id"] in ("HG00096", "S2"))
    assert [(r["dataset"], r["sample_id"]) for r in rows] == [("mp", "S2"), ("mt", "HG00096"), ("pc", "HG00096"),
                                                             ("sp", "HG00096")]
    check(ql, "samples=HG00096; dataset=pc", lambda r: r["sample_id"] == "HG00096" and r["dataset"] == "pc")


@pytest.mark.parametrize("pattern", ["HG00*", "NA1848?", "HG0009[6-9]", "[!HN]*", "*0", "S[12]", "X*"])
def test_resolve_pattern_is_a_shell_glob(ql, pattern):
    rows = check(ql, f"pattern={pattern}", lambda r: fnmatch.fnmatchcase(r["sample_id"], pattern))
    assert rows


def test_unknown_names_are_errors(ql):
    with pytest.raises(QueryError) as err:
        resolve(ql.engine, "pop=XYZ")
    assert str(err.value) == "population 'XYZ' is not in the lake; known populations: CEU, CHB, GBR, YRI"
    with pytest.raises(QueryError, match=r"population 'chb' is not in the lake \(did you mean CHB\?\)"):
        resolve(ql.engine, "pop=chb")
    with pytest.raises(QueryError, match="super-populations: AFR, EAS, EUR"):
        resolve(ql.engine, "super_pop=EAS,SAS")
    with pytest.raises(QueryError, match="^sample not in the lake: NOPE$"):
        resolve(ql.engine, "samples=HG00096,NOPE")
    with pytest.raises(QueryError, match="^sample not in dataset 'sim': HG00096$"):
        resolve(ql.engine, "samples=HG00096; dataset=sim")
    with pytest.raises(QueryError, match="^dataset 'nope' is not in the lake; datasets: hx, mp, mt, pc, sim, sp$"):
        resolve(ql.engine, "dataset=nope")
    # quoting: a hostile sample name is a name, not SQL
    with pytest.raises(QueryError, match="^sample not in the lake: <14 chars hidden>$"):  # quoted, and not echoed
        resolve(ql.engine, Cohort(samples=("x') OR TRUE --",)))


def test_empty_cohort_is_an_error(ql):
    with pytest.raises(QueryError) as err:
        resolve(ql.engine, "super_pop=EAS; dataset=sp")
    assert str(err.value) == "cohort dataset=sp; super_pop=EAS matches no samples"
    with pytest.raises(QueryError, match="^cohort pattern=ZZ\\* matches no samples$"):
        resolve(ql.engine, "pattern=ZZ*")
    with pytest.raises(QueryError, match="^cohort pop=CHB; samples=HG00096 matches no samples$"):
        resolve(ql.engine, "pop=CHB; samples=HG00096")


def test_member_predicates_select_exactly_the_members(ql):
    """The compact per-dataset predicates analyses put into SQL (the cohort's own terms, runs of
    callset columns, or the runs left out) select exactly the resolved members."""
    from genolake.queries.cohorts import members_of

    sim = ql.samples("sim")  # VCF column order
    cases = {
        "first 40 columns": (Cohort(samples=tuple(sim[:40])), "BETWEEN 0 AND 39"),
        "all but two": (Cohort(samples=tuple(sim[:17] + sim[19:])), "NOT (sample_index BETWEEN 17 AND 18)"),
        "scattered": (Cohort(samples=tuple(sim[::7])), "sample_id IN"),
        "super-population": (Cohort.parse("super_pop=EUR,EAS"), "super_population IN ('EUR', 'EAS')"),
        "pattern": (Cohort.parse("pattern=HG0009[6-9]"), "regexp_matches"),
    }
    for name, (cohort, fragment) in cases.items():
        m = members_of(ql.engine, cohort)
        assert fragment in m.predicate(), name
        via_sql = ql.engine.sql(f"SELECT dataset, sample_id FROM samples WHERE {m.predicate()} ORDER BY dataset, sample_id")
        assert via_sql.to_pylist() == m.table.select(["dataset", "sample_id"]).to_pylist(), name
        assert sum(m.sizes.values()) == m.table.num_rows
    m = members_of(ql.engine, "super_pop=EUR")
    assert m.full == ["mt"] and m.datasets == ["mt", "sim", "sp"] and m.totals["sim"] == 60
    assert m.predicates["mt"] == "dataset = 'mt'"
    with pytest.raises(QueryError, match="contradicts the cohort's dataset=sp"):
        members_of(ql.engine, "dataset=sp", dataset="mt")


def test_resolved_cohorts_follow_the_engine_snapshot(tmp_path):
    """Members are cached per engine and samples version: a refreshed engine sees new samples."""
    import genolake
    from conftest import VCF_DIR

    from genolake.queries.cohorts import members_of
    from genolake.queries.engines import connect

    lake = genolake.init_lake(tmp_path / "lake")
    genolake.ingest_vcf(lake, VCF_DIR / "mixed_ploidy.vcf.gz", "mp", workers=1)
    engine = connect(lake)
    first = members_of(engine, "samples=S1,S3")
    assert members_of(engine, "samples=S1,S3") is first  # a warm engine resolves a repeat for free
    genolake.ingest_vcf(lake, VCF_DIR / "test-haploidX.vcf", "hx", workers=1)
    with pytest.raises(QueryError, match="sample not in the lake: 37150"):  # still the old snapshot
        members_of(engine, "samples=S1,37150")
    engine.refresh()
    both = members_of(engine, "samples=S1,37150")
    assert both.sizes == {"hx": 1, "mp": 1} and both.totals == {"hx": 3, "mp": 3}
    assert members_of(engine, "samples=S1,S3") is not first and members_of(engine, "samples=S1,S3").sizes == {"mp": 2}
    engine.close()


def test_sample_file_is_read_as_ids_and_never_echoed(tmp_path):
    """Issue item 4: `file=/etc/shadow` answered "24 samples not in the lake: root:*:20228:…" and
    `file=/proc/self/environ` printed the environment."""
    secret = tmp_path / "shadow"
    secret.write_text("root:*:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\nbin:$6$s3cret$hash:20228::::::\n")
    with pytest.raises(QueryError) as err:
        Cohort.parse(f"file={secret}")
    text = str(err.value).split(str(secret), 1)[1]  # what follows the path
    assert "\n" not in text and "3 of 3 entries are not sample IDs" in text
    assert "root" not in text and "s3cret" not in text and "chars hidden>" in text
    environ = tmp_path / "environ"
    environ.write_bytes(b"HOME=/root\x00SECRET_TOKEN=abc123\x00")
    with pytest.raises(QueryError) as err:
        Cohort.parse(f"file={environ}")
    assert "SECRET" not in str(err.value) and "binary" in str(err.value)
    if Path("/proc/self/environ").exists():  # stat size 0: still read, bounded, and refused
        with pytest.raises(QueryError) as err:
            Cohort.parse("file=/proc/self/environ")
        assert "=" not in str(err.value).split("/proc/self/environ", 1)[1]
    big = tmp_path / "big.txt"
    big.write_bytes(b"HG00096\n" * (2 * 1024 * 1024 + 1))  # > 16 MiB
    with pytest.raises(QueryError, match="larger than 16 MiB"):
        Cohort.parse(f"file={big}")
    one_line = tmp_path / "one.txt"
    one_line.write_text("HG00096, HG00099 NA18486\n")
    assert Cohort.parse(f"file={one_line}").samples == ("HG00096", "HG00099", "NA18486")


def test_unknown_ids_from_a_file_name_the_count_and_three_at_most(ql, tmp_path):
    f = tmp_path / "ids.txt"
    f.write_text("".join(f"NOPE{i}\n" for i in range(10)))
    with pytest.raises(QueryError) as err:
        resolve(ql.engine, f"file={f}")
    assert str(err.value) == "10 samples not in the lake: NOPE0, NOPE1, NOPE2 and 7 more"
