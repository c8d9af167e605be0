"""The layout benchmark's report: the layout to use per workload, and the result document (contract.py)
rendered as JSON, Markdown and a self-contained HTML page with plots.

- `recommend(result)`: per workload, the fastest layout whose answer was valid (never a layout flagged
  `peer`, never an invalid or unchecked one), with a one-sentence reason: its median, its ratio to the
  bcftools-vcf peer, bytes read/planned, its storage against the reference layout, and the layouts
  that gave a wrong answer.
- `render(result, out_dir)`: layouts-<name>.json (the document without the pyarrow answers),
  layouts-<name>.md (tables, with the plots linked), layouts-<name>.html (the same, plots embedded as
  base64 data URIs, so the page is one file) and the PNGs beside them:
  (1) latency per layout and workload as a ratio to bcftools-vcf (log-scale heatmap; invalid cells
      hatched; cells without a peer show the absolute median), (2) storage bytes per layout with the
      VCF.gz and BCF sizes as reference lines, (3) the recommendations with their reasons, and, when
  the run measured query engines (`--engines duckdb,spark`), (4) per-workload medians by engine
  (grouped bars, log scale). The "By query engine" table gives workload x engine medians, each
  engine's ratio to duckdb and its connect time.

Figures are ratios to bcftools on the same data in the same run (DESIGN.md); missing pieces (no peers,
a workload without a bcftools peer, Hail absent) show as "—" or as the peer's note, never as an error.
Plots use matplotlib's object API (Figure + Agg canvas): no pyplot, no global backend switch.
"""

from __future__ import annotations

import base64
import html
import json
import math
import textwrap
from pathlib import Path

from .contract import WORKLOADS

BASE_PEER = "bcftools-vcf"
BASE_ENGINE = "duckdb"
DASH = "—"


# ---------------------------------------------------------------- formatting

def fmt_s(x) -> str:
    if x is None:
        return DASH
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    return f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def fmt_bytes(n) -> str:
    if n is None:
        return DASH
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def fmt_ratio(r) -> str:
    if r is None:
        return DASH
    return f"{r:,.0f}×" if r >= 1000 else f"{r:.3g}×"


def fmt_count(n) -> str:
    return DASH if n is None else f"{n:,}"


# ---------------------------------------------------------------- reading the result document

def layouts(result: dict) -> dict:
    return result.get("layouts") or {}


def is_peer_layout(result: dict, name: str) -> bool:
    return bool(layouts(result).get(name, {}).get("peer"))


def reference_layout(result: dict) -> str | None:
    return next((n for n, d in layouts(result).items() if d.get("reference")), None)


def workload_names(result: dict) -> list[str]:
    """The run's workloads in the contract's order, then any others that have results."""
    seen = list(result.get("workloads") or {})
    seen += [r["workload"] for r in result.get("results") or [] if r.get("workload")]
    seen += [p["workload"] for p in result.get("peers") or [] if p.get("workload")]
    unique = list(dict.fromkeys(seen))
    return [w for w in WORKLOADS if w in unique] + [w for w in unique if w not in WORKLOADS]


def layout_names(result: dict, with_peers: bool = False) -> list[str]:
    names = list(layouts(result)) + [r["layout"] for r in result.get("results") or [] if r.get("layout")]
    return [n for n in dict.fromkeys(names) if with_peers or not is_peer_layout(result, n)]


def result_rows(result: dict, workload: str) -> list[dict]:
    return [r for r in result.get("results") or [] if r.get("workload") == workload]


def peer_median(result: dict, workload: str, peer: str = BASE_PEER) -> float | None:
    """The peer's median on the workload, unless its answer was found wrong."""
    for p in result.get("peers") or []:
        if p.get("peer") == peer and p.get("workload") == workload and p.get("valid") is not False:
            if p.get("median_s"):
                return p["median_s"]
    return None


def ratio_to_peer(result: dict, workload: str, median) -> float | None:
    base = peer_median(result, workload)
    return median / base if median is not None and base else None


def storage_ratio(result: dict, layout: str) -> float | None:
    ref = reference_layout(result)
    mine, theirs = (layouts(result).get(n, {}).get("bytes") for n in (layout, ref))
    return mine / theirs if mine is not None and theirs else None


def answer_text(row: dict) -> str:
    if row.get("valid") is True:
        return "valid"
    if row.get("valid") is False:
        return "INVALID" + (f": {row['mismatch']}" if row.get("mismatch") else "")
    return "unchecked"


def without_answers(value):
    """A JSON-ready copy of the document: every "answer" key (pyarrow tables) dropped."""
    if isinstance(value, dict):
        return {k: without_answers(v) for k, v in value.items() if k != "answer"}
    if isinstance(value, (list, tuple)):
        return [without_answers(v) for v in value]
    return value


# ---------------------------------------------------------------- recommendations

def wrong_answers(rows: list[dict]) -> list[str]:
    return [f"{r['layout']} gave a wrong answer: {r.get('mismatch') or 'differs from the reference'}"
            for r in rows if r.get("valid") is False]


def reason_for(result: dict, row: dict, others: list[dict]) -> str:
    """One sentence: median, ratio to bcftools-vcf, bytes read/planned, storage vs the reference."""
    workload, name = row["workload"], row["layout"]
    ratio = ratio_to_peer(result, workload, row["median_s"])
    peer = (f"{fmt_ratio(ratio)} {BASE_PEER} ({fmt_s(peer_median(result, workload))})" if ratio is not None
            else f"no {BASE_PEER} peer to compare")
    read, planned = row.get("bytes_read"), row.get("bytes_planned")
    io = (f"read {fmt_bytes(read)} ({fmt_bytes(planned)} planned)" if read is not None or planned is not None
          else "bytes read not measured")
    ref = reference_layout(result)
    size = layouts(result).get(name, {}).get("bytes")
    if name == ref:
        storage = f"stores {fmt_bytes(size)} (it is the reference layout)"
    else:
        storage = f"stores {fmt_bytes(size)} = {fmt_ratio(storage_ratio(result, name))} the reference layout {ref or DASH}"
    parts = [f"{name} is the fastest layout with a valid answer: median {fmt_s(row['median_s'])}, {peer}, {io}, {storage}"]
    parts += wrong_answers(others)
    return "; ".join(parts) + "."


def recommend(result: dict) -> dict:
    """{workload: {"layout", "reason"}}: the fastest valid non-peer layout (layout None when there is none)."""
    out = {}
    for workload in workload_names(result):
        rows = [r for r in result_rows(result, workload) if r.get("layout") and not is_peer_layout(result, r["layout"])]
        if not rows:
            continue
        valid = [r for r in rows if r.get("valid") is True and r.get("median_s") is not None]
        if not valid:
            reason = "; ".join(["no layout gave a valid answer", *wrong_answers(rows)]) + "."
            out[workload] = {"layout": None, "reason": reason}
            continue
        best = min(valid, key=lambda r: r["median_s"])
        out[workload] = {"layout": best["layout"], "reason": reason_for(result, best, rows)}
        if workload == "ingest":
            out[workload]["reason"] = _ingest_reason(result, best, rows)
    return out


def _ingest_reason(result: dict, best: dict, rows: list[dict]) -> str:
    """Building a layout starts from the curated tables; the reference layout is the VCF ingest itself."""
    ref = next((r for r in rows if layouts(result).get(r["layout"], {}).get("reference")), None)
    text = (f"{best['layout']} is the quickest to build from the curated tables ({fmt_s(best['median_s'])}); "
            "every layout but the reference starts from them")
    if ref is not None and ref is not best:
        text += f", and the reference is the lake's own VCF ingest ({fmt_s(ref['median_s'])})"
    return text + "."


# ---------------------------------------------------------------- tables (shared by Markdown and HTML)

def latency_table(result: dict) -> tuple[list[str], list[list[str]]]:
    head = ["workload", "layout", "median", "p25–p75", f"ratio to {BASE_PEER}", "answer", "bytes read",
            "bytes planned", "files / row groups planned"]
    rows = []
    for workload in workload_names(result):
        for r in sorted(result_rows(result, workload), key=lambda r: (r.get("median_s") is None, r.get("median_s") or 0)):
            planned = f"{fmt_count(r.get('files_planned'))} / {fmt_count(r.get('row_groups_planned'))}"
            name = r.get("layout", DASH) + (" (peer)" if is_peer_layout(result, r.get("layout")) else "")
            rows.append([workload, name, fmt_s(r.get("median_s")),
                         f"{fmt_s(r.get('p25_s'))}–{fmt_s(r.get('p75_s'))}",
                         fmt_ratio(ratio_to_peer(result, workload, r.get("median_s"))), answer_text(r),
                         fmt_bytes(r.get("bytes_read")), fmt_bytes(r.get("bytes_planned")), planned])
    return head, rows


def storage_table(result: dict) -> tuple[list[str], list[list[str]]]:
    data = result.get("data") or {}
    head = ["layout", "description", "bytes", "files", "× VCF.gz", "× reference", "build", "build peak RSS", "knobs"]
    rows = []
    for name, d in layouts(result).items():
        flag = " (reference)" if d.get("reference") else " (peer)" if d.get("peer") else ""
        vs_vcf = d["bytes"] / data["vcf_bytes"] if d.get("bytes") is not None and data.get("vcf_bytes") else None
        rows.append([name + flag, d.get("description", ""), fmt_bytes(d.get("bytes")), fmt_count(d.get("files")),
                     fmt_ratio(vs_vcf), fmt_ratio(storage_ratio(result, name)), fmt_s(d.get("build_s")),
                     fmt_bytes(d.get("peak_rss_bytes")), json.dumps(d.get("knobs") or {}, sort_keys=True)])
    return head, rows


def peers_table(result: dict) -> tuple[list[str], list[list[str]]]:
    head = ["peer", "workload", "median", f"ratio to {BASE_PEER}", "peak RSS", "answer", "note", "command"]
    rows = []
    for p in result.get("peers") or []:
        rows.append([p.get("peer", DASH), p.get("workload", DASH), fmt_s(p.get("median_s")),
                     fmt_ratio(ratio_to_peer(result, p.get("workload"), p.get("median_s"))),
                     fmt_bytes(p.get("peak_rss_bytes")), answer_text(p), p.get("note") or "", p.get("cmd") or ""])
    return head, rows


def recommendation_rows(recs: dict) -> list[list[str]]:
    return [[w, r.get("layout") or DASH, r.get("reason", "")] for w, r in recs.items()]


def environment_lines(result: dict) -> list[str]:
    """Data size, hardware, versions, git and settings, one line each."""
    data, hw, ver = result.get("data") or {}, result.get("hardware") or {}, result.get("versions") or {}
    git, params = result.get("git") or {}, result.get("params") or {}
    lines = [
        f"Data: {data.get('vcf', DASH)} — VCF.gz {fmt_bytes(data.get('vcf_bytes'))}, BCF {fmt_bytes(data.get('bcf_bytes'))}; "
        f"{fmt_count(data.get('samples'))} samples, {fmt_count(data.get('records'))} records, "
        f"{fmt_count(data.get('alleles'))} split alleles, {fmt_count(data.get('stored_calls'))} stored calls on contig "
        f"{data.get('contig', DASH)}; cohort {fmt_count(data.get('cohort_size'))} samples",
        f"Hardware: {hw.get('nproc', DASH)} CPUs ({hw.get('cpu_model') or DASH}), {hw.get('ram_GiB', DASH)} GiB RAM, "
        f"kernel {hw.get('kernel', DASH)}",
        "Versions: " + (", ".join(f"{k} {v}" for k, v in ver.items()) or DASH),
        f"Git: {(git.get('commit') or DASH)[:12]}"
        + (f" + {len(git['modified_files'])} modified files" if git.get("modified_files") else ""),
        "Settings: " + (json.dumps(result.get("settings") or {}, sort_keys=True)),
        "Parameters: " + (json.dumps(params, sort_keys=True, default=str) if params else DASH),
        f"Started: {result.get('started_utc', DASH)}; scale {result.get('scale') or DASH}",
    ]
    return lines


# ---------------------------------------------------------------- plots

def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def latency_grid(result: dict) -> tuple[list[str], list[str], list[list[dict]]]:
    """Rows (layouts, then peers other than bcftools-vcf) x workloads: median, ratio, validity per cell."""
    workloads = workload_names(result)
    peer_names = list(dict.fromkeys(p.get("peer") for p in result.get("peers") or [] if p.get("peer") != BASE_PEER))
    labels, grid = [], []
    for name in layout_names(result, with_peers=True):
        by_w = {r["workload"]: r for r in result.get("results") or [] if r.get("layout") == name}
        labels.append(name + (" (peer)" if is_peer_layout(result, name) else ""))
        grid.append([by_w.get(w, {}) for w in workloads])
    for peer in peer_names:
        by_w = {p["workload"]: p for p in result.get("peers") or [] if p.get("peer") == peer}
        labels.append(f"peer: {peer}")
        grid.append([by_w.get(w, {}) for w in workloads])
    grid = [[dict(cell, _ratio=ratio_to_peer(result, w, cell.get("median_s"))) if cell else {}
             for cell, w in zip(row, workloads)] for row in grid]  # copies: the document stays as it was
    return labels, workloads, grid


def cell_text(cell: dict) -> str:
    if not cell:
        return ""
    if cell.get("median_s") is None:
        return (cell.get("note") or DASH)[:18]
    text = fmt_ratio(cell["_ratio"]) if cell["_ratio"] is not None else f"{fmt_s(cell['median_s'])}\n(no peer)"
    return text + ("\nINVALID" if cell.get("valid") is False else "")


def plot_latency(result: dict, path: Path) -> Path:
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import FuncFormatter

    labels, workloads, grid = latency_grid(result)
    fig = _figure(max(6.0, 1.3 * len(workloads) + 3), max(2.5, 0.55 * len(labels) + 1.8))
    ax = fig.add_subplot()
    if not labels or not workloads:
        return _say_no_data(fig, ax, path, "no results")
    logs = np.array([[math.log10(c["_ratio"]) if c and c["_ratio"] else np.nan for c in row] for row in grid])
    finite = np.abs(logs[np.isfinite(logs)])
    span = max(1.0, float(finite.max())) if finite.size else 1.0
    cmap = colormaps["RdYlGn_r"].with_extremes(bad="#e8e8e8")  # no peer: gray
    image = ax.imshow(np.ma.masked_invalid(logs), cmap=cmap, vmin=-span, vmax=span, aspect="auto")
    for i, row in enumerate(grid):
        for j, cell in enumerate(row):
            invalid = bool(cell) and cell.get("valid") is False
            if invalid:  # hatched: a wrong answer's time is kept but never counts as fast
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx", edgecolor="#b00000", lw=0))
            box = {"facecolor": "white", "alpha": 0.85, "lw": 0, "pad": 1.5} if invalid else None
            ax.text(j, i, cell_text(cell), ha="center", va="center", fontsize=7, bbox=box,
                    color="#b00000" if invalid else "black", fontweight="bold" if invalid else "normal")
    ax.set_xticks(range(len(workloads)), workloads, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    bar = fig.colorbar(image, ax=ax, format=FuncFormatter(lambda v, _: fmt_ratio(10**v)))
    bar.set_label(f"median / {BASE_PEER} median (log scale; < 1× is faster)", fontsize=8)
    ax.set_title(f"Latency by layout and workload, as a ratio to {BASE_PEER} ({result.get('name', '')})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_storage(result: dict, path: Path) -> Path:
    data = result.get("data") or {}
    items = [(n, d.get("bytes"), d) for n, d in layouts(result).items() if d.get("bytes") is not None]
    fig = _figure(8, max(2.5, 0.45 * len(items) + 1.6))
    ax = fig.add_subplot()
    if not items:
        ax.text(0.5, 0.5, "no layout sizes", ha="center", va="center")
        ax.set_axis_off()
        fig.savefig(path)
        return path
    colors = ["#2f6db5" if d.get("reference") else "#9a9a9a" if d.get("peer") else "#5fa55a" for _, _, d in items]
    ax.barh(range(len(items)), [b for _, b, _ in items], color=colors)
    names = [n + (" (reference)" if d.get("reference") else " (peer)" if d.get("peer") else "") for n, _, d in items]
    ax.set_yticks(range(len(items)), names, fontsize=8)
    ax.invert_yaxis()
    for i, (_, b, _) in enumerate(items):
        ax.text(b, i, " " + fmt_bytes(b), va="center", fontsize=7,
                bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 0.5})  # readable over the lines
    for label, key, style in (("VCF.gz", "vcf_bytes", "--"), ("BCF", "bcf_bytes", ":")):
        if data.get(key):
            ax.axvline(data[key], color="#b00000", linestyle=style, lw=1.2, label=f"{label} {fmt_bytes(data[key])}")
    sizes = [b for _, b, _ in items] + [data[k] for k in ("vcf_bytes", "bcf_bytes") if data.get(k)]
    if min(sizes) > 0 and max(sizes) / min(sizes) > 100:
        ax.set_xscale("log")
    ax.set_xlim(right=max(sizes) * (3 if ax.get_xscale() == "log" else 1.25))
    ax.xaxis.set_major_formatter(lambda v, _: fmt_bytes(v))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    ax.set_title("Storage by layout (bytes on disk)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_engines(result: dict, path: Path) -> Path:
    """Grouped bars: per workload, each engine's median (log scale); invalid answers hatched."""
    import numpy as np

    engines = engine_names(result)
    cells = engine_cells(result)
    workloads = [w for w in workload_names(result) if any((e, w) in cells for e in engines)]
    fig = _figure(max(6.0, 1.1 * len(workloads) + 2.5), 4.2)
    ax = fig.add_subplot()
    if not engines or not workloads:
        return _say_no_data(fig, ax, path, "no engine results")
    width = 0.8 / len(engines)
    x = np.arange(len(workloads))
    palette = ["#2f6db5", "#e07b39", "#5fa55a", "#8c5fa5", "#9a9a9a"]
    for k, e in enumerate(engines):
        medians = [(cells.get((e, w)) or {}).get("median_s") for w in workloads]
        heights = [m if m else np.nan for m in medians]
        bars = ax.bar(x + (k - (len(engines) - 1) / 2) * width, heights, width, label=e,
                      color=palette[k % len(palette)])
        for bar, w, m in zip(bars, workloads, medians):
            if m is None:
                continue
            if (cells.get((e, w)) or {}).get("valid") is False:
                bar.set_hatch("xx")
                bar.set_edgecolor("#b00000")
            ax.text(bar.get_x() + bar.get_width() / 2, m, fmt_s(m), ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 4)  # room for the labels
    ax.yaxis.set_major_formatter(lambda v, _: fmt_s(v))
    ax.set_xticks(x, workloads, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("median latency (log scale)", fontsize=8)
    connect = ", ".join(f"{e} {fmt_s(engine_connect_s(result, e))}" for e in engines)
    ax.legend(fontsize=8, loc="upper left", title=f"connect: {connect}", title_fontsize=7)
    ax.set_title(f"Median latency by query engine and workload ({result.get('name', '')})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_recommendations(recs: dict, path: Path, width_chars: int = 120) -> Path:
    rows = [(w, layout, textwrap.wrap(reason, width_chars) or [""]) for w, layout, reason in recommendation_rows(recs)]
    n_lines = sum(len(r[2]) for r in rows) + 2
    fig = _figure(11, max(1.2, 0.2 * n_lines + 0.3))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(n_lines, 0)
    y = 1.0
    for x, head in ((0.0, "workload"), (0.13, "layout"), (0.25, "why")):
        ax.text(x, y, head, fontsize=8, fontweight="bold", va="center")
    if not rows:
        ax.text(0.0, y + 1.5, "no recommendation: no layout results", fontsize=8, va="center")
    for workload, layout, lines in rows:
        y += 1.0
        ax.axhline(y - 0.5, color="#cccccc", lw=0.6)
        ax.text(0.0, y, workload, fontsize=8, va="center")
        ax.text(0.13, y, layout, fontsize=8, va="center", fontweight="bold", color="#b00000" if layout == DASH else "black")
        for k, line in enumerate(lines):
            ax.text(0.25, y + k, line, fontsize=7.5, va="center")
        y += len(lines) - 1
    fig.savefig(path)
    return path


# ---------------------------------------------------------------- Markdown and HTML

def md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["(none)", ""]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def html_table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    def cell(c):
        text = html.escape(str(c))
        return f'<td class="bad">{text}</td>' if str(c).startswith("INVALID") else f"<td>{text}</td>"
    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr></thead><tbody>{body}</tbody></table>"


def ingest_engines_table(result: dict) -> tuple[list[str], list[list[str]]]:
    head = ["engine", "wall", "start-up", "JVM start-up", "work", "peak RSS (tree)", "checked"]
    rows = []
    for engine, r in (result.get("ingest_engines") or {}).get("rows", {}).items():
        if not r.get("available"):
            rows.append([engine, r.get("note") or "not available", DASH, DASH, DASH, DASH, DASH])
            continue
        check = ("FAILED: " + (r.get("note") or "") if r.get("failed") else "valid" if r.get("valid") else
                 "not checked" if r.get("valid") is None else "INVALID")
        rows.append([engine, fmt_s(r.get("wall_s")), fmt_s(r.get("startup_s")),
                     fmt_s(r["jvm_startup_s"]) if r.get("jvm_startup_s") else DASH, fmt_s(r.get("work_s")),
                     f"{(r.get('peak_rss_tree_bytes') or 0) / 2**20:,.0f} MiB", check])
    return head, rows


def engine_names(result: dict) -> list[str]:
    """The engines of `engine_results`, in the run's order (settings.engines first)."""
    cells = result.get("engine_results") or []
    order = list((result.get("settings") or {}).get("engines") or []) + [c.get("engine") for c in cells]
    present = {c.get("engine") for c in cells}
    return [e for e in dict.fromkeys(order) if e in present]


def engine_cells(result: dict) -> dict[tuple[str, str], dict]:
    return {(c.get("engine"), c.get("workload")): c for c in result.get("engine_results") or []}


def engine_ratio(result: dict, engine: str, workload: str) -> float | None:
    """The engine's median / duckdb's on the workload (None without both, or when either is invalid)."""
    cells = engine_cells(result)
    mine, base = cells.get((engine, workload)), cells.get((BASE_ENGINE, workload))
    if not mine or not base or mine.get("valid") is False or base.get("valid") is False:
        return None
    if mine.get("median_s") is None or not base.get("median_s"):
        return None
    return mine["median_s"] / base["median_s"]


def engine_connect_s(result: dict, engine: str) -> float | None:
    return next((c.get("connect_s") for c in result.get("engine_results") or [] if c.get("engine") == engine), None)


def engines_table(result: dict) -> tuple[list[str], list[list[str]]]:
    """Workload x engine: median (p25–p75), the ratio of each other engine to duckdb, and a last
    row with each engine's connect time."""
    engines = engine_names(result)
    others = [e for e in engines if e != BASE_ENGINE] if BASE_ENGINE in engines else []
    head = ["workload", *engines, *(f"{e} / {BASE_ENGINE}" for e in others), "answers"]
    cells = engine_cells(result)
    rows = []
    workloads = [w for w in workload_names(result) if any((e, w) in cells for e in engines)]
    workloads += [w for w in dict.fromkeys(c.get("workload") for c in result.get("engine_results") or [])
                  if w not in workloads]
    for w in workloads:
        row = [w]
        for e in engines:
            c = cells.get((e, w))
            if not c or c.get("median_s") is None:
                row.append(DASH)
                continue
            text = fmt_s(c["median_s"])
            if c.get("p25_s") is not None and c.get("p75_s") is not None and c["p25_s"] != c["p75_s"]:
                text += f" ({fmt_s(c['p25_s'])}–{fmt_s(c['p75_s'])})"
            row.append(("INVALID " if c.get("valid") is False else "") + text)
        row += [fmt_ratio(engine_ratio(result, e, w)) for e in others]
        bad = [f"{e}: {answer_text(cells[(e, w)])}" for e in engines if (e, w) in cells and cells[(e, w)].get("valid") is not True]
        row.append("; ".join(bad) if bad else "all valid")
        rows.append(row)
    if rows:
        rows.append(["connect (once per engine)", *(fmt_s(engine_connect_s(result, e)) for e in engines),
                     *(fmt_ratio(engine_connect_s(result, e) / engine_connect_s(result, BASE_ENGINE))
                       if engine_connect_s(result, e) is not None and engine_connect_s(result, BASE_ENGINE) else DASH
                       for e in others), ""])
    return head, rows


def sections(result: dict, recs: dict) -> list[tuple[str, str, tuple]]:
    """(title, intro, (head, rows)) for each table of the report."""
    peers_intro = ("Peers on the same data in the same run; their answers are checked like the layouts'."
                   if result.get("peers") else "No peers ran in this run.")
    return [
        ("Latency by workload and layout", f"Median of the timed repeats on a warm engine; ratio = median / "
         f"{BASE_PEER} median ({DASH} when the workload has no {BASE_PEER} peer). An INVALID answer's time is "
         "shown but never recommended.", latency_table(result)),
        ("Storage by layout", "Bytes on disk of each layout; × VCF.gz and × the reference layout.", storage_table(result)),
        ("Peers", peers_intro, peers_table(result)),
        *([("Ingest by ETL engine", "The same VCF through each engine, each in a fresh process: wall time of the "
            "whole process (start-up included, and apart), peak RSS summed over the process tree (python, JVM, "
            "workers); checked = AC/AN equal bcftools (local, spark) or entries = records x samples (hail).",
            ingest_engines_table(result))] if result.get("ingest_engines") else []),
        *([("By query engine", "Each workload through the project's analyses (genolake.allele_frequency, "
            "annotate, sample_variants, ...) on each query engine over the curated lake, in the same process: "
            "median of the timed repeats after the warm-up (p25–p75 in brackets), and the ratio of each engine's "
            f"median to {BASE_ENGINE}'s. Every answer is checked against the truth like the layouts'. The "
            "connect (Spark: the JVM start and the views over the snapshot) is timed once per engine, apart "
            "from the queries.", engines_table(result))] if result.get("engine_results") else []),
        ("Recommendations", "The fastest layout with a valid answer, per workload.",
         (["workload", "layout", "why"], recommendation_rows(recs))),
    ]


def markdown(result: dict, recs: dict, pngs: list[Path]) -> str:
    lines = [f"# Layout benchmark: {result.get('name', DASH)}", ""]
    lines += [f"- {line}" for line in environment_lines(result)] + [""]
    for png, title in zip(pngs, PNG_TITLES):
        lines += [f"![{title}]({png.name})", ""]
    for title, intro, (head, rows) in sections(result, recs):
        lines += [f"## {title}", "", intro, ""] + md_table(head, rows)
    return "\n".join(lines) + "\n"


PNG_TITLES = ("Latency as a ratio to bcftools", "Storage by layout", "Recommendations", "Latency by query engine")

CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.85em}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.bad{color:#b00000;font-weight:bold}img{max-width:100%;margin:0.5em 0}
ul{font-size:0.9em}"""


def data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def html_page(result: dict, recs: dict, pngs: list[Path]) -> str:
    title = f"Layout benchmark: {result.get('name', DASH)}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><ul>"]
    parts += [f"<li>{html.escape(line)}</li>" for line in environment_lines(result)]
    parts.append("</ul>")
    for png, alt in zip(pngs, PNG_TITLES):
        parts.append(f"<h2>{html.escape(alt)}</h2><img alt='{html.escape(alt)}' src='{data_uri(png)}'>")
    for name, intro, (head, rows) in sections(result, recs):
        parts.append(f"<h2>{html.escape(name)}</h2><p>{html.escape(intro)}</p>{html_table(head, rows)}")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render(result: dict, out_dir: Path) -> dict:
    """Write layouts-<name>.json/.md/.html and the PNGs into `out_dir`; returns their paths
    (json=, md=, html=, png=[latency, storage, recommendations(, engines when the run has engine_results)])."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = without_answers(result)
    recs = doc.get("recommendations") or recommend(doc)
    doc["recommendations"] = recs
    stem = f"layouts-{doc.get('name') or 'run'}"
    pngs = [plot_latency(doc, out_dir / f"{stem}-latency.png"), plot_storage(doc, out_dir / f"{stem}-storage.png"),
            plot_recommendations(recs, out_dir / f"{stem}-recommendations.png")]
    if doc.get("engine_results"):
        pngs.append(plot_engines(doc, out_dir / f"{stem}-engines.png"))
    paths = {"json": out_dir / f"{stem}.json", "md": out_dir / f"{stem}.md", "html": out_dir / f"{stem}.html"}
    paths["json"].write_text(json.dumps(doc, indent=2, default=str) + "\n")
    paths["md"].write_text(markdown(doc, recs, pngs))
    paths["html"].write_text(html_page(doc, recs, pngs))
    return {**paths, "png": pngs}


def _say_no_data(fig, ax, path, text: str):
    """A figure that says it has nothing to plot (rather than an empty frame)."""
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    fig.savefig(path)
    return path
