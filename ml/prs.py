"""Polygenic scores from a weights file, equal to `plink2 --score ... cols=+scoresums` (mean imputation).

Weights files: PGS Catalog scoring files (`#` header lines, then columns rsID, chr_name, chr_position,
effect_allele, [other_allele], effect_weight) and plink-style whitespace files `ID A1 WEIGHT` (one header
line; ID an rsID or a CPRA like 22-16050075-A-G / 22:16050075:A:G).

Matching rules (per dataset):

- A weight names sites by rsID (`variants.rsid`) when it has one and the dataset has it; otherwise by
  contig + position (PGS chr_name/chr_position, or a CPRA ID's contig and position).  A site is one
  record: (contig, pos, REF) with all its ALT alleles.
- The effect allele as written must equal the site's REF or one of its ALTs.  Only when it matches
  nowhere as written, a strand flip (A<->T, C<->G) is tried, and only for a SNP that is not
  palindromic: the effect allele is one base, the site's alleles are single bases and are not the pair
  {A,T} or {C,G}, and the other allele (when given) does not form such a pair with the effect allele and
  its complement is one of the site's alleles.  Palindromic (A/T, C/G) SNPs are matched as written, never
  flipped.  A weight matching two sites (or two alleles) is ambiguous and left unmatched.
- Dosage of an ALT effect allele = alt_dosage of that split allele; of a REF effect allele =
  called_alleles - (sum of the sample's alt_dosage over all ALTs of the site).  A sample without a stored
  row is diploid, fully called, without any ALT.
- A call with a missing allele (`./.`, half-calls `./1`: called_alleles < ploidy) is missing and
  mean-imputed like plink2: dosage = ploidy x frequency of the effect allele among the non-missing calls of
  the scored samples (cohort members of that dataset); 0 when no call is non-missing.
- score = SUM of dosage x weight (plink2's SCORE1_SUM); allele_ct = non-missing alleles over the distinct
  matched sites (plink2's ALLELE_CT); named_allele_dosage_sum = sum of the effect-allele dosages of
  non-missing calls (plink2's NAMED_ALLELE_DOSAGE_SUM).
- Haploid calls count their own alleles (plink2 would count a haploid autosomal call as homozygous).

Schema metadata: `prs_matched`, `prs_unmatched` (weight counts) and `prs_unmatched_ids` (JSON list of
the IDs as written, capped at UNMATCHED_SHOWN).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from genolake.lake.coords import normalize_contig
from genolake.lake.errors import InputError
from genolake.queries.cohorts import members_of
from genolake.queries.provenance import analysis
from genolake.queries.sql import in_list, lit, run

__all__ = ["read_weights", "score", "WEIGHTS_SCHEMA", "SCORE_SCHEMA", "UNMATCHED_SHOWN"]

UNMATCHED_SHOWN = 100
_CHUNK = 2000
WEIGHTS_SCHEMA = pa.schema([
    ("line", pa.int64()), ("id", pa.string()), ("rsid", pa.string()), ("contig", pa.string()),
    ("pos", pa.int64()), ("effect_allele", pa.string()), ("other_allele", pa.string()), ("weight", pa.float64()),
])
SCORE_SCHEMA = pa.schema([
    ("sample_id", pa.string()), ("dataset", pa.string()), ("score", pa.float64()),
    ("allele_ct", pa.int64()), ("named_allele_dosage_sum", pa.float64()),
])
_RSID = re.compile(r"^rs[0-9]+$", re.IGNORECASE)
_CPRA = re.compile(r"^([^:\-\s]+)[:\-]([0-9]+)[:\-]([A-Za-z*.<>]+)[:\-]([A-Za-z*.<>,]+)$")
_ALLELE = re.compile(r"^[A-Za-z*]+$|^<[^<>\s]+>$")
_COMP = {"A": "T", "T": "A", "C": "G", "G": "C"}
_PGS_COLS = ("rsID", "chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight")


def _weight(path, text: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(path, f"weight {text!r} is not a number", line=line) from None
    if not math.isfinite(value):
        raise InputError(path, f"weight {text!r} is not a finite number", line=line)
    return value


def _allele(path, text: str, what: str, line: int) -> str:
    if not text or not _ALLELE.match(text):
        raise InputError(path, f"{what} {text!r} is not an allele (bases like A or ACG)", line=line)
    return text.upper() if not text.startswith("<") else text


def read_weights(path) -> pa.Table:
    """A weights file as a table (WEIGHTS_SCHEMA: line, id, rsid, contig, pos, effect_allele,
    other_allele, weight). InputError(path, problem, line=N) for a bad file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise InputError(p, f"cannot read the weights file: {err.strerror or err}") from None
    if p.name.endswith(".gz"):
        import gzip
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise InputError(p, f"not a readable gzip file: {err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise InputError(p, "not UTF-8 text", line=line) from None
    rows: list[tuple] = []
    header = None
    pgs = False
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if header is None:
            pgs = "effect_weight" in line.split("\t") or "effect_weight" in line.split()
            header = line.split("\t") if pgs else line.split()
            if pgs:
                header = [h.strip() for h in header]
                missing = [c for c in ("effect_allele", "effect_weight") if c not in header]
                if missing or ("rsID" not in header and not {"chr_name", "chr_position"} <= set(header)):
                    raise InputError(p, "PGS scoring file header lacks "
                                     + (", ".join(missing) if missing else "rsID or chr_name + chr_position"), line=n)
                idx = {c: header.index(c) for c in _PGS_COLS if c in header}
            elif len(header) < 3:
                raise InputError(p, f"header {line.strip()[:60]!r} should name 3 columns: ID A1 WEIGHT "
                                 "(or be a PGS Catalog scoring file header)", line=n)
            continue
        if pgs:
            fields = line.split("\t")
            if len(fields) < len(header):
                fields += [""] * (len(header) - len(fields))
            get = {c: fields[i].strip() for c, i in idx.items()}
            rsid = get.get("rsID") or None
            if rsid is not None and not _RSID.match(rsid):
                raise InputError(p, f"rsID {rsid!r} is not rs followed by digits", line=n)
            contig = get.get("chr_name") or None
            pos_text = get.get("chr_position") or ""
            pos = None
            if pos_text:
                if not pos_text.isdigit() or int(pos_text) < 1:
                    raise InputError(p, f"chr_position {pos_text!r} is not a positive integer", line=n)
                pos = int(pos_text)
            if rsid is None and (contig is None or pos is None):
                raise InputError(p, "the line has neither an rsID nor chr_name + chr_position", line=n)
            ea = _allele(p, get.get("effect_allele", ""), "effect_allele", n)
            oa = get.get("other_allele") or None
            oa = _allele(p, oa, "other_allele", n) if oa else None
            wt = _weight(p, get.get("effect_weight", ""), n)
            ident = rsid or f"{contig}:{pos}"
            rows.append((n, ident, "rs" + rsid[2:] if rsid else None,
                         normalize_contig(contig) if contig else None, pos, ea, oa, wt))
        else:
            fields = line.split()
            if len(fields) < 3:
                raise InputError(p, f"expected 3 columns (ID A1 WEIGHT), found {len(fields)}", line=n)
            ident, a1, wtext = fields[0], fields[1], fields[2]
            ea = _allele(p, a1, "allele", n)
            wt = _weight(p, wtext, n)
            if _RSID.match(ident):
                rows.append((n, ident, "rs" + ident[2:], None, None, ea, None, wt))
                continue
            m = _CPRA.match(ident)
            if not m or int(m.group(2)) < 1:
                raise InputError(p, f"ID {ident!r} is neither an rsID (rs671) nor a CPRA (22-16050075-A-G)", line=n)
            ref, alt = m.group(3).upper(), m.group(4).upper()
            other = alt if ea == ref else ref if ea == alt else None
            rows.append((n, ident, None, normalize_contig(m.group(1)), int(m.group(2)), ea, other, wt))
    if header is None:
        raise InputError(p, "no header line and no weights")
    if not rows:
        raise InputError(p, "no weights after the header")
    cols = list(zip(*rows))
    return pa.table({f.name: pa.array(list(c), f.type) for f, c in zip(WEIGHTS_SCHEMA, cols)}, schema=WEIGHTS_SCHEMA)


def _chunks(values, size=_CHUNK):
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _site_rows(engine, weights: pa.Table, datasets: list[str]) -> list[dict]:
    """Every split allele of the lake's sites named by rsID or by contig + position."""
    rsids = sorted({r for r in weights["rsid"].to_pylist() if r})
    by_contig: dict[str, set[int]] = {}
    for c, p in zip(weights["contig"].to_pylist(), weights["pos"].to_pylist()):
        if c is not None and p is not None:
            by_contig.setdefault(c, set()).add(int(p))
    cols = "dataset, contig, pos, ref, alt, allele_ord, rsid"
    out: list[dict] = []
    for chunk in _chunks(rsids):
        # the rsID's rows and every other allele of those records (same contig, pos, ref)
        out += run(engine, f"""
            SELECT v.{cols.replace(', ', ', v.')}, r.rsid AS by_rsid
            FROM variants v JOIN (SELECT DISTINCT dataset, contig, pos, ref, rsid FROM variants
                                  WHERE rsid IN {in_list(chunk)} AND dataset IN {in_list(datasets)}) r
              ON v.dataset = r.dataset AND v.contig = r.contig AND v.pos = r.pos AND v.ref = r.ref
            WHERE v.dataset IN {in_list(datasets)}""").to_pylist()
    for contig, positions in sorted(by_contig.items()):
        for chunk in _chunks(sorted(positions)):
            out += run(engine, f"""
                SELECT {cols}, NULL AS by_rsid FROM variants
                WHERE contig = {lit(contig)} AND pos IN {in_list(chunk)} AND dataset IN {in_list(datasets)}""").to_pylist()
    return out


def _palindromic(alleles) -> bool:
    return set(alleles) in ({"A", "T"}, {"C", "G"})


def _match(ea: str, oa: str | None, sites: list[tuple]) -> list[tuple]:
    """(site, allele_ord or None for REF) candidates; sites are (key, ref, {alt: ord})."""
    found = []
    for site in sites:
        _, ref, alts = site
        if ea == ref:
            found.append((site, None))
        elif ea in alts:
            found.append((site, alts[ea]))
    if found or ea not in _COMP:
        return found
    if oa is not None and (oa not in _COMP or _palindromic((ea, oa))):
        return []
    for site in sites:
        _, ref, alts = site
        alleles = {ref, *alts}
        if not all(a in _COMP for a in alleles) or _palindromic(alleles):
            continue
        if oa is not None and _COMP[oa] not in alleles:
            continue
        flipped = _COMP[ea]
        if flipped == ref:
            found.append((site, None))
        elif flipped in alts:
            found.append((site, alts[flipped]))
    return found


@analysis
def score(engine, weights, *, dataset=None, cohort=None) -> pa.Table:
    """Polygenic score per cohort member (see the module docstring for the rules): columns
    sample_id, dataset, score, allele_ct, named_allele_dosage_sum; sorted by dataset, sample_id.
    `weights` is a path or a table from `read_weights`."""
    if not isinstance(weights, pa.Table):
        weights = read_weights(weights)
    members = members_of(engine, cohort, dataset)
    datasets = members.datasets
    rows = _site_rows(engine, weights, datasets)
    # sites per dataset: by rsID and by (contig, pos)
    sites: dict[tuple, dict] = {}  # (dataset, contig, pos, ref) -> {alt: ord}
    by_rsid: dict[tuple, set] = {}
    by_pos: dict[tuple, set] = {}
    for r in rows:
        key = (r["dataset"], r["contig"], int(r["pos"]), r["ref"])
        sites.setdefault(key, {})[r["alt"]] = int(r["allele_ord"])
        if r["by_rsid"]:
            by_rsid.setdefault((r["dataset"], r["by_rsid"]), set()).add(key)
        else:
            by_pos.setdefault((r["dataset"], r["contig"], int(r["pos"])), set()).add(key)
    # resolve each weight in each dataset: (weight index, site key, allele_ord | None)
    matches: list[tuple[int, tuple, int | None]] = []
    matched = set()
    w_rsid, w_contig, w_pos = weights["rsid"].to_pylist(), weights["contig"].to_pylist(), weights["pos"].to_pylist()
    w_ea, w_oa, w_wt = weights["effect_allele"].to_pylist(), weights["other_allele"].to_pylist(), weights["weight"].to_pylist()
    for i in range(weights.num_rows):
        for d in datasets:
            keys = by_rsid.get((d, w_rsid[i])) if w_rsid[i] else None
            if not keys and w_contig[i] is not None and w_pos[i] is not None:
                keys = by_pos.get((d, w_contig[i], int(w_pos[i])))
            if not keys:
                continue
            found = _match(w_ea[i], w_oa[i], [(k, k[3], sites[k]) for k in sorted(keys)])
            if len(found) == 1:
                (site, _, _), ord_ = found[0]
                matches.append((i, site, ord_))
                matched.add(i)
    unmatched = [weights["id"][i].as_py() for i in range(weights.num_rows) if i not in matched]

    # calls of the matched sites: per (match, sample) the call's counts over all ALTs of the site
    member_rows = members.table.select(["dataset", "sample_id"]).to_pylist()
    sample_pos = {(r["dataset"], r["sample_id"]): j for j, r in enumerate(member_rows)}
    n_samples = len(member_rows)
    ds_of_sample = np.array([r["dataset"] for r in member_rows], dtype=object)
    sizes = {d: members.sizes[d] for d in datasets}
    k_rows, j_rows, called_l, ploidy_l, eff_l, altsum_l = [], [], [], [], [], []
    pred = members.predicate()
    for chunk in _chunks(range(len(matches)), 500):
        values = []
        for k in chunk:
            _, (d, contig, pos, _ref), ord_ = matches[k]
            for o in sites[(d, contig, pos, _ref)].values():
                values.append(f"({k}, {lit(d)}, {lit(contig)}, {pos}, {o}, {1 if o == ord_ else 0})")
        contigs = sorted({matches[k][1][1] for k in chunk})
        positions = sorted({matches[k][1][2] for k in chunk})
        got = run(engine, f"""
            WITH s(k, dataset, contig, pos, allele_ord, eff) AS (VALUES {', '.join(values)})
            SELECT s.k, g.dataset, g.sample_id, CAST(max(g.called_alleles) AS INTEGER) AS called,
                   CAST(max(g.ploidy) AS INTEGER) AS ploidy,
                   CAST(sum(g.alt_dosage * s.eff) AS INTEGER) AS eff_dosage,
                   CAST(sum(g.alt_dosage) AS INTEGER) AS alt_sum
            FROM genotypes g
            JOIN s ON g.dataset = s.dataset AND g.contig = s.contig AND g.pos = s.pos AND g.allele_ord = s.allele_ord
            JOIN (SELECT dataset, sample_id FROM samples WHERE {pred}) m
              ON m.dataset = g.dataset AND m.sample_id = g.sample_id
            WHERE g.contig IN {in_list(contigs)} AND g.pos IN {in_list(positions)}
              AND g.dataset IN {in_list(datasets)}
            GROUP BY s.k, g.dataset, g.sample_id""")
        k_rows += got["k"].to_pylist()
        j_rows += [sample_pos[key] for key in zip(got["dataset"].to_pylist(), got["sample_id"].to_pylist())]
        called_l += got["called"].to_pylist()
        ploidy_l += got["ploidy"].to_pylist()
        eff_l += got["eff_dosage"].to_pylist()
        altsum_l += got["alt_sum"].to_pylist()

    m = len(matches)
    k_arr = np.array(k_rows, dtype=np.int64)
    j_arr = np.array(j_rows, dtype=np.int64)
    called = np.array(called_l, dtype=np.float64)
    ploidy = np.array(ploidy_l, dtype=np.float64)
    is_ref = np.array([ord_ is None for _, _, ord_ in matches], dtype=bool)
    w = np.array([w_wt[i] for i, _, _ in matches], dtype=np.float64)
    base = np.where(is_ref, 2.0, 0.0)  # dosage of a sample without a stored row (0/0)
    n_d = np.array([sizes[site[0]] for _, site, _ in matches], dtype=np.float64)
    row_ref = is_ref[k_arr] if m else np.zeros(0, bool)
    dos = np.where(row_ref, called - np.array(altsum_l, dtype=np.float64), np.array(eff_l, dtype=np.float64))
    missing = called < ploidy
    ok = ~missing
    n_stored = np.bincount(k_arr, minlength=m).astype(np.float64)
    nm_dos = np.bincount(k_arr, weights=np.where(ok, dos, 0.0), minlength=m)
    nm_called = np.bincount(k_arr, weights=np.where(ok, called, 0.0), minlength=m)
    absent = n_d - n_stored
    denom = 2.0 * absent + nm_called
    num = base * absent + nm_dos
    freq = np.divide(num, denom, out=np.zeros(m), where=denom > 0)
    value = np.where(missing, freq[k_arr] * ploidy if m else 0.0, dos)

    scores = np.zeros(n_samples)
    named = np.zeros(n_samples)
    allele_ct = np.zeros(n_samples, dtype=np.int64)
    # baseline of every member of the match's dataset, then each stored call's difference from it
    base_score: dict[str, float] = {}
    base_named: dict[str, float] = {}
    site_seen: dict[str, set] = {}
    for k, (_, site, _) in enumerate(matches):
        base_score[site[0]] = base_score.get(site[0], 0.0) + w[k] * base[k]
        base_named[site[0]] = base_named.get(site[0], 0.0) + base[k]
        site_seen.setdefault(site[0], set()).add(site)
    for d in datasets:
        sel = ds_of_sample == d
        scores[sel] += base_score.get(d, 0.0)
        named[sel] += base_named.get(d, 0.0)
        allele_ct[sel] += 2 * len(site_seen.get(d, ()))
    if m and len(k_arr):
        np.add.at(scores, j_arr, w[k_arr] * (value - base[k_arr]))
        np.add.at(named, j_arr, np.where(ok, dos, 0.0) - base[k_arr])
        # allele_ct counts each distinct site once per sample: the site's stored call replaces 2
        site_id = {}
        for k, (_, site, _) in enumerate(matches):
            site_id.setdefault(site, len(site_id))
        sid = np.array([site_id[matches[k][1]] for k in k_rows], dtype=np.int64)
        pairs = np.unique(np.stack([sid, j_arr, np.where(ok, called, 0.0).astype(np.int64)], axis=1), axis=0)
        np.add.at(allele_ct, pairs[:, 1], pairs[:, 2] - 2)

    out = pa.table({
        "sample_id": pa.array([r["sample_id"] for r in member_rows], pa.string()),
        "dataset": pa.array([r["dataset"] for r in member_rows], pa.string()),
        "score": pa.array(scores, pa.float64()),
        "allele_ct": pa.array(allele_ct, pa.int64()),
        "named_allele_dosage_sum": pa.array(named, pa.float64()),
    }, schema=SCORE_SCHEMA).sort_by([("dataset", "ascending"), ("sample_id", "ascending")])
    meta = {b"prs_matched": str(len(matched)).encode(), b"prs_unmatched": str(len(unmatched)).encode(),
            b"prs_unmatched_ids": json.dumps(unmatched[:UNMATCHED_SHOWN]).encode(),
            b"prs_matched_sites": str(len(matches)).encode()}
    return out.replace_schema_metadata(meta)
