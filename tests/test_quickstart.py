"""`make quickstart` at a tiny size: the whole flow, the printed analyses and the HTML report."""

from __future__ import annotations

import base64
import re
import time
from html.parser import HTMLParser

import pyarrow as pa

import genolake
from genolake import quickstart
from genolake.queries.report import Section, af_by_group_plot, write_report

ARGS = ["--samples", "30", "--length", "200000", "--seed", "3"]


class _Tables(HTMLParser):
    """Rows of every <table> as lists of cell texts; checks that tags are balanced."""

    VOID = {"meta", "img", "br", "link", "input", "hr"}

    def __init__(self):
        super().__init__()
        self.stack, self.tables, self.cell = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def test_quickstart_runs_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "qs"
    t0 = time.perf_counter()
    assert quickstart.main(["--out", str(out), *ARGS]) == 0
    first = time.perf_counter() - t0
    printed = capsys.readouterr().out

    engine = genolake.connect(out / "lake")
    picks = quickstart.pick_variants(engine)
    assert len(picks) == 4 and len({r for r, _ in picks}) == 4
    freq = genolake.population_frequencies(engine, rsids=[r for r, _ in picks], dataset=quickstart.DATASET,
                                           by="super_population")
    engine.close()

    for step in ("allele frequencies of 4 variants by super-population", "ClinVar annotation of",
                 "drug response", f"done. The report: {out / 'report.html'}"):
        assert step in printed
    for rsid, _ in picks:
        assert rsid in printed

    report = out / "report.html"
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "<img" in html or "<svg" in html
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    assert "http://" not in html and "https://" not in html  # self-contained

    parser = _Tables()
    parser.feed(html)
    assert parser.stack == []
    af_table = parser.tables[0]
    header, rows = af_table[0], af_table[1:]
    assert len(rows) == 4
    by_rsid = {row[header.index("rsid")]: row for row in rows}
    for r in freq.to_pylist():  # the four variants' rows, with the API's counts
        row = by_rsid[r["rsid"]]
        assert row[header.index("cpra")] == r["cpra"]
        for g in ("AFR", "EAS", "EUR"):
            assert row[header.index(f"{g}_ac")] == str(r[f"{g}_ac"])
            assert row[header.index(f"{g}_an")] == str(r[f"{g}_an"])
    assert len(parser.tables) >= 3  # the AF table, the annotation / drug response, the lake

    # a second run reuses the simulation, ingests nothing and rewrites the same report
    t0 = time.perf_counter()
    assert quickstart.main(["--out", str(out), *ARGS]) == 0
    second = time.perf_counter() - t0
    again = capsys.readouterr().out
    assert again.count("unchanged: already ingested") == 2
    assert all(rsid in again for rsid, _ in picks)
    assert report.exists()
    assert first < 60 and second < 30, (first, second)


def test_write_report_renders_tables_and_an_svg(tmp_path):
    t = pa.table({"cpra": ["22-1-A-G", "22-5-C-T"], "rsid": ["rs1", None],
                  "AFR_ac": [1, 0], "AFR_an": [10, 0], "AFR_af": [0.1, None],
                  "EUR_ac": [5, 2], "EUR_an": [10, 8], "EUR_af": [0.5, 0.25]})
    png = af_by_group_plot(t, title="t")
    assert png[:4] == b"\x89PNG"
    svg = '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    path = write_report(tmp_path / "sub" / "r.html", title="A <report>", sections=[
        Section("Plot & table", plot=png, table=t, caption="caption"),
        {"heading": "An SVG", "plot": svg, "text": "first\n\nsecond"},
    ])
    html = path.read_text()
    assert "A &lt;report&gt;" in html and "<img" in html and "<svg" in html and "<?xml" not in html
    parser = _Tables()
    parser.feed(html)
    assert parser.tables[0][1][:2] == ["22-1-A-G", "rs1"]
    assert parser.tables[0][2][1] == "." and parser.tables[0][2][4] == "."  # nulls
    assert parser.tables[0][1][4] == "0.1000"
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left behind
