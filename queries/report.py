"""A self-contained HTML report: inline CSS, tables rendered from Arrow tables, plots embedded as
base64 PNG (or inline SVG). One file, no external assets, opens in any browser.

    from genolake.queries.report import Section, af_by_group_plot, write_report
    freq = genolake.population_frequencies(engine, rsids=[...], by="super_population")
    write_report("report.html", title="Allele frequencies", sections=[
        Section("AF by super-population", plot=af_by_group_plot(freq), table=freq),
    ])

matplotlib draws the plots (Agg canvas, no display, no pyplot global state); it is imported only
when a plot is made.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from genolake.lake.errors import ConfigError
from genolake.lake.formatting import format_float
from genolake.lake.formatting import is_number as _is_number

# super-populations in the order 1000 Genomes lists them; other groups follow alphabetically
_GROUP_ORDER = ("AFR", "AMR", "EAS", "EUR", "SAS")
# Okabe-Ito: distinguishable with colour-vision deficiencies
_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


@dataclass
class Section:
    """One part of a report. Any of text, plot and table may be given; they render in that order.

    plot: PNG bytes (embedded as base64) or SVG markup (inlined). table: an Arrow table, shown up
    to `max_rows` rows (numbers right-aligned, nulls as '.'), `columns` picks and orders columns."""

    heading: str
    text: str | None = None
    table: pa.Table | None = None
    plot: bytes | str | None = None
    caption: str | None = None
    columns: list[str] | None = None
    max_rows: int = 200
    meta: dict = field(default_factory=dict)


_CSS = """
:root { --fg: #1d2329; --muted: #5b6670; --rule: #d8dde2; --band: #f5f7f9; --accent: #0072B2; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg);
       max-width: 1180px; margin: 2rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2.2rem 0 .5rem; padding-bottom: .25rem; border-bottom: 2px solid var(--accent); }
p.sub, .note, figcaption, .meta { color: var(--muted); }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .75rem 0 1rem; font-size: 13px; }
.meta dt { font-weight: 600; } .meta dd { margin: 0; font-family: ui-monospace, Menlo, Consolas, monospace; }
nav ol { margin: .5rem 0 0; padding-left: 1.25rem; } nav a { color: var(--accent); text-decoration: none; }
figure { margin: .75rem 0 1rem; } figure img, figure svg { max-width: 100%; height: auto; }
.scroll { overflow-x: auto; border: 1px solid var(--rule); border-radius: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { padding: .28rem .6rem; border-bottom: 1px solid var(--rule); white-space: nowrap; }
th { background: var(--band); text-align: left; position: sticky; top: 0; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.null { color: #9aa4ad; }
td.wrap { white-space: normal; min-width: 14rem; }
tbody tr:nth-child(even) { background: #fbfcfd; }
tbody tr:hover { background: #eef5fb; }
footer { margin-top: 3rem; color: var(--muted); font-size: 12px; }
"""


# ---------------------------------------------------------------------------------------------
# plots


def _group_order(groups):
    known = [g for g in _GROUP_ORDER if g in groups]
    return known + sorted(g for g in groups if g not in known)


def _wilson(ac, an, z=1.96):
    """95% Wilson score interval of ac/an (sensible at AF near 0 or 1 and for small AN)."""
    ac, an = float(ac or 0), float(an or 0)
    if an <= 0:
        return (math.nan, math.nan)
    p = ac / an
    denom = 1 + z * z / an
    centre = (p + z * z / (2 * an)) / denom
    half = z * math.sqrt(p * (1 - p) / an + z * z / (4 * an * an)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def af_by_group_plot(table: pa.Table, *, groups: list[str] | None = None, title: str | None = None,
                     labels: list[str] | None = None, ylabel: str = "allele frequency", dpi: int = 110) -> bytes:
    """A grouped bar chart (PNG bytes) of a population_frequencies table: one cluster per variant
    (labelled rsID, CPRA and a `gene` column when there is one, or `labels`), one bar per group's
    `{G}_af`, 95% Wilson intervals from `{G}_ac`/`{G}_an` when present, and the AF above each bar."""
    from matplotlib.figure import Figure

    names = table.column_names
    found = [c[:-3] for c in names if c.endswith("_af") and c != "af"]
    groups = groups or _group_order(found)
    missing = [g for g in groups if f"{g}_af" not in names]
    if missing:
        raise ConfigError(f"no {', '.join(g + '_af' for g in missing)} column in the table")
    rows = table.to_pylist()
    if labels is not None and len(labels) != len(rows):
        raise ConfigError(f"{len(labels)} labels for {len(rows)} variants")
    labels = list(labels) if labels is not None else []
    for r in rows if not labels else ():
        top = r.get("rsid") or r.get("cpra") or "?"
        sub = r.get("cpra") if r.get("rsid") else None
        gene = r.get("gene") or r.get("gene_symbol")
        labels.append("\n".join(x for x in (top, sub, gene) if x))

    n, k = len(rows), max(len(groups), 1)
    width = 0.8 / k
    fig = Figure(figsize=(max(6.0, 1.0 + n * (0.55 + 0.32 * k)), 4.4), dpi=dpi)
    ax = fig.add_subplot()
    top_value = 0.0
    for j, g in enumerate(groups):
        xs = [i - 0.4 + width * (j + 0.5) for i in range(n)]
        afs = [None if r.get(f"{g}_af") is None else float(r[f"{g}_af"]) for r in rows]
        ys = [a if a is not None else 0.0 for a in afs]
        tops = list(ys)  # where the value label goes: above the bar and its interval
        colour = _COLOURS[j % len(_COLOURS)]
        ax.bar(xs, ys, width * 0.92, label=g, color=colour, zorder=2)
        if f"{g}_ac" in names and f"{g}_an" in names:
            lo, hi = [], []
            for i, (r, y) in enumerate(zip(rows, ys)):
                a, b = _wilson(r.get(f"{g}_ac"), r.get(f"{g}_an"))
                lo.append(0.0 if math.isnan(a) else max(0.0, y - a))
                hi.append(0.0 if math.isnan(b) else max(0.0, b - y))
                tops[i] = max(y, 0.0 if math.isnan(b) else b)
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="#333333", elinewidth=0.8, capsize=2.5, zorder=3)
        for x, t, a in zip(xs, tops, afs):
            top_value = max(top_value, t)
            ax.annotate("n/a" if a is None else f"{a:.2f}", (x, t), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, color="#333333", zorder=4)
    ax.set_xticks(range(n))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, max(top_value, 0.05) * 1.1)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", color="#dddddd", linewidth=0.7, zorder=0)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(title=None, frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# HTML


def _esc(v) -> str:
    return html.escape(str(v), quote=True)


def _cell(v) -> tuple[str, bool]:
    if v is None:
        return ".", True
    if isinstance(v, bool):
        return ("true" if v else "false"), False
    if isinstance(v, float):
        return format_float(v), False
    if isinstance(v, (list, tuple)):
        return ", ".join("." if x is None else str(x) for x in v), False
    return str(v), False


def table_html(table: pa.Table, *, columns: list[str] | None = None, max_rows: int | None = 200) -> str:
    if columns:
        table = table.select([c for c in columns if c in table.column_names])
    n = table.num_rows
    shown = table if max_rows is None or n <= max_rows else table.slice(0, max_rows)
    numeric = [_is_number(f.type) for f in table.schema]
    wide_text = [pa.types.is_string(f.type) or pa.types.is_large_string(f.type) for f in table.schema]
    head = "".join(f'<th class="num">{_esc(c)}</th>' if num else f"<th>{_esc(c)}</th>"
                   for c, num in zip(table.column_names, numeric))
    cols = [shown.column(i).to_pylist() for i in range(table.num_columns)]
    body = []
    for row in zip(*cols):
        tds = []
        for v, num, text in zip(row, numeric, wide_text):
            shown_text, null = _cell(v)
            cls = [c for c, on in (("num", num), ("null", null), ("wrap", text and len(shown_text) > 40)) if on]
            attr = f' class="{" ".join(cls)}"' if cls else ""
            tds.append(f"<td{attr}>{_esc(shown_text)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    note = f"{n:,} row{'s' if n != 1 else ''}"
    if shown.num_rows < n:
        note += f", the first {shown.num_rows:,} shown"
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
            f'<p class="note">{note}</p>')


def _plot_html(plot, caption: str | None, alt: str) -> str:
    if isinstance(plot, (bytes, bytearray)):
        data = base64.b64encode(bytes(plot)).decode("ascii")
        inner = f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'
    else:
        text = str(plot)
        if "<svg" not in text[:2000]:
            raise ConfigError("a plot is PNG bytes or SVG markup")
        inner = text[text.index("<svg"):]  # drop an XML prolog / doctype
    cap = f"<figcaption>{_esc(caption)}</figcaption>" if caption else ""
    return f"<figure>{inner}{cap}</figure>"


def _anchor(i: int, heading: str) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in heading.lower()).strip("-")
    return f"s{i}-{slug[:40]}"


def render_report(*, title: str, sections, subtitle: str | None = None, meta: dict | None = None) -> str:
    sections = [s if isinstance(s, Section) else Section(**s) for s in sections]
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
           f"<header><h1>{_esc(title)}</h1>"]
    if subtitle:
        out.append(f'<p class="sub">{_esc(subtitle)}</p>')
    if meta:
        out.append('<dl class="meta">' + "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in meta.items())
                   + "</dl>")
    if len(sections) > 1:
        out.append("<nav><ol>" + "".join(f'<li><a href="#{_anchor(i, s.heading)}">{_esc(s.heading)}</a></li>'
                                         for i, s in enumerate(sections)) + "</ol></nav>")
    out.append("</header><main>")
    for i, s in enumerate(sections):
        out.append(f'<section id="{_anchor(i, s.heading)}"><h2>{_esc(s.heading)}</h2>')
        if s.text:
            out += [f"<p>{_esc(par)}</p>" for par in s.text.split("\n\n") if par.strip()]
        if s.meta:
            out.append('<dl class="meta">' + "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>"
                                                     for k, v in s.meta.items()) + "</dl>")
        if s.plot is not None:
            out.append(_plot_html(s.plot, s.caption, alt=s.heading))
        if s.table is not None:
            out.append(table_html(s.table, columns=s.columns, max_rows=s.max_rows))
        out.append("</section>")
    out.append(f"</main><footer>genolake report, generated {_esc(now)}. Self-contained: no external files."
               "</footer></body></html>")
    return "\n".join(out) + "\n"


def write_report(path, *, title: str, sections, subtitle: str | None = None, meta: dict | None = None) -> Path:
    """Write a self-contained HTML report to `path` (atomically: a temporary file renamed into place).

    sections: Section objects, or dicts with Section's fields (heading, text, table, plot, caption,
    columns, max_rows, meta). Returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(title=title, sections=sections, subtitle=subtitle, meta=meta)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


__all__ = ["Section", "af_by_group_plot", "render_report", "table_html", "write_report"]
