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
from genolake.lake.errors import InputError, QueryError
from genolake.queries.cohorts import members_of
from genolake.queries.provenance import analysis
from genolake.queries.sql import in_list, lit, run

__all__ = ["read_weights", "score", "WEIGHTS_SCHEMA", "SCORE_SCHEMA", "UNMATCHED_SHOWN"]

UNMATCHED_SHOWN = 100
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


# The plain `ID A1 WEIGHT` format vectorised (a genome-wide file has millions of lines). It takes only
# files every line of which it reads exactly as the line loop below would (printable ASCII, each
# field of a form both read alike) and returns None for anything else, which the loop then reads
# and, for a bad line, names it.
_FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_ALLELE_RE2 = r"^[A-Za-z*]+$|^<[^<>\s]+>$"
_CPRA_RE2 = r"^(?P<c>[^:\-\s]+)[:\-](?P<p>[0-9]{1,15})[:\-](?P<r>[A-Za-z*.<>]+)[:\-](?P<a>[A-Za-z*.<>,]+)$"


def _read_plain_fast(text: str) -> pa.Table | None:
    import pyarrow.compute as pc

    lines = pa.array(text.splitlines(), pa.string())
    if not len(lines) or pc.any(pc.match_substring_regex(lines, r"[^\x20-\x7e\t]")).as_py():
        return None
    skip = pc.or_(pc.match_substring_regex(lines, r"^[ \t]*$"), pc.starts_with(lines, "#")).to_numpy(zero_copy_only=False)
    kept = np.flatnonzero(~skip)
    if len(kept) < 2:
        return None
    header = lines[int(kept[0])].as_py()
    if "effect_weight" in header.split("\t") or "effect_weight" in header.split() or len(header.split()) < 3:
        return None
    body = lines.take(pa.array(kept[1:]))
    fields = pc.ascii_split_whitespace(body)
    if pc.min(pc.list_value_length(fields)).as_py() < 3:
        return None
    ident, a1, wtext = (pc.list_element(fields, k) for k in range(3))
    if not (pc.all(pc.match_substring_regex(a1, _ALLELE_RE2)).as_py()
            and pc.all(pc.match_substring_regex(wtext, _FLOAT)).as_py()):
        return None
    weight = pc.cast(wtext, pa.float64())
    if not pc.all(pc.is_finite(weight)).as_py():
        return None
    ea = pc.if_else(pc.starts_with(a1, "<"), a1, pc.utf8_upper(a1))
    is_rs = pc.match_substring_regex(ident, r"^rs[0-9]+$", ignore_case=True)
    parts = pc.extract_regex(pc.if_else(is_rs, pa.scalar("x", pa.string()), ident), _CPRA_RE2)
    is_cpra = pc.and_(pc.invert(is_rs), pc.is_valid(parts))
    if not pc.all(pc.or_(is_rs, is_cpra)).as_py():
        return None
    pos = pc.cast(pc.struct_field(parts, "p"), pa.int64())
    if pc.any(pc.and_(is_cpra, pc.less(pos, 1))).as_py():
        return None
    null_s, null_i = pa.scalar(None, pa.string()), pa.scalar(None, pa.int64())
    contig_raw = pc.struct_field(parts, "c").dictionary_encode()
    contig_norm = pa.array([normalize_contig(c) for c in contig_raw.dictionary.to_pylist()], pa.string())
    contig = pc.take(contig_norm, contig_raw.indices)
    ref, alt = pc.utf8_upper(pc.struct_field(parts, "r")), pc.utf8_upper(pc.struct_field(parts, "a"))
    other = pc.if_else(pc.equal(ea, ref), alt, pc.if_else(pc.equal(ea, alt), ref, null_s))
    rsid = pc.binary_join_element_wise("rs", pc.utf8_slice_codeunits(ident, 2), "")
    table = pa.table({
        "line": pa.array(kept[1:] + 1, pa.int64()), "id": ident,
        "rsid": pc.if_else(is_rs, rsid, null_s), "contig": pc.if_else(is_rs, null_s, contig),
        "pos": pc.if_else(is_rs, null_i, pos), "effect_allele": ea,
        "other_allele": pc.if_else(is_rs, null_s, other), "weight": weight,
    })
    return table.cast(WEIGHTS_SCHEMA)


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
    fast = _read_plain_fast(text)
    if fast is not None:
        return fast
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


# ------------------------------------------------------------------------------------ scoring
#
# One SQL statement does the whole job set-based (DuckDB only: it splits lists with DuckDB functions):
# the weights travel as one string literal split in SQL (the engine reads no outside file), are
# matched to sites by the rules above, and each matched site's weights become per-allele
# coefficients; one pass over the stored calls (cpra_index) then sums per sample the difference
# from the baseline "no stored row" (0/0: dosage 2 of REF, 0 of an ALT):
#
#   fully called (called >= ploidy):  alt_dosage * (W_alt(allele) - W_ref(site))
#                                     + W_ref(site) * (called - 2)            [once per call]
#   missing (called < ploidy):        ploidy * F(site) - 2 * W_ref(site)      [once per call]
#
# where W_ref / W_alt are the summed weights whose effect allele is the site's REF / that ALT and
# F = sum over the site's matches of weight x frequency of its effect allele among non-missing calls
# (plink2's mean imputation). "Once per call" uses the site's lowest allele_ord: a call that is not
# diploid and fully called is stored on every allele of its site (DESIGN.md "Stored calls"), and
# for a diploid fully called call the term is 0. Frequencies: a dataset the cohort covers whole
# uses the variants table's own AC/AN less its half-calls' alleles (one filtered scan); otherwise
# the members' calls are summed (a second pass).

_SEP_FIELD, _SEP_ROW = "\t", "\n"
_SNP = "('A', 'C', 'G', 'T')"


def _weights_literal(weights: pa.Table) -> str:
    """The weights as one SQL string: rows rsid, contig, pos, effect_allele, other_allele, weight
    (tab-separated, '' for null), in table order (row i is weight i)."""
    import pyarrow.compute as pc

    wt = weights["weight"].cast(pa.float64())
    text = pc.cast(wt, pa.string())
    # Arrow writes the shortest round-tripping form; checked, else Python's repr (also exact)
    if not pc.all(pc.equal(pc.cast(text, pa.float64()), wt)).as_py():
        text = pa.array([repr(float(x)) for x in wt.to_pylist()], pa.string())
    cols = [weights["rsid"].cast(pa.string()), weights["contig"].cast(pa.string()),
            pc.cast(weights["pos"], pa.string()), weights["effect_allele"].cast(pa.string()),
            weights["other_allele"].cast(pa.string())]
    cols = [pc.fill_null(c, "") for c in cols]
    for c in cols:  # alleles, rsIDs and contigs are checked by read_weights; a hand-made table may not be
        if pc.any(pc.match_substring_regex(c, r"[\t\n\r]")).as_py():
            raise InputError("weights", "a weights field holds a tab or a line break")
    rows = pc.binary_join_element_wise(*cols, text, _SEP_FIELD)
    return lit(_SEP_ROW.join(rows.to_pylist()))


def _score_sql(weights_lit: str, members, datasets: list[str], pairs: list[tuple[str, str]]) -> str:
    ds = in_list(datasets)
    full = [d for d in datasets if members.sizes[d] == members.totals[d]]
    part = [d for d in datasets if d not in full]
    member_calls = " OR ".join(f"(x.dataset = {lit(d)} AND {members.index_predicate(d, 'x.sample_index')})"
                               for d in datasets)
    freq_branches = []
    if full:  # whole callsets: variants' AC/AN less what the missing calls (half-calls) hold
        freq_branches.append(f"""
        SELECT a.dataset, a.contig, a.pos, a.ref, a.allele_ord,
               a.ac - coalesce(h.a, 0) AS s_alt,
               a.an - coalesce(h.c, 0) AS denom
        FROM alleles a LEFT JOIN (
            SELECT dataset, contig, pos, allele_ord, sum(alt_dosage) AS a, sum(called_alleles) AS c FROM (
                -- half-calls: 1 allele called of 2 or more, or 2+ of 3 or more (filters the scan can push down)
                SELECT dataset, contig, pos, allele_ord, alt_dosage, called_alleles FROM cpra_index
                WHERE called_alleles = 1 AND ploidy >= 2
                UNION ALL
                SELECT dataset, contig, pos, allele_ord, alt_dosage, called_alleles FROM cpra_index
                WHERE ploidy >= 3 AND called_alleles >= 2 AND called_alleles < ploidy)
            GROUP BY dataset, contig, pos, allele_ord) h
          ON h.dataset = a.dataset AND h.contig = a.contig AND h.pos = a.pos AND h.allele_ord = a.allele_ord
        WHERE a.dataset IN {in_list(full)}""")
        # an is per record: every allele row of a site has the same; the rep row's h.c is per call
    if part:  # part of a callset: the members' calls (absent ones are 0/0, 2 called alleles)
        sizes = " ".join(f"WHEN {lit(d)} THEN {members.sizes[d]}" for d in part)
        freq_branches.append(f"""
        SELECT a.dataset, a.contig, a.pos, a.ref, a.allele_ord,
               coalesce(g.s_alt, 0) AS s_alt,
               2 * (CASE a.dataset {sizes} END) - coalesce(g.deficit, 0) AS denom
        FROM alleles a LEFT JOIN (
            SELECT x.dataset, x.contig, x.pos, x.allele_ord,
                   sum(CASE WHEN x.called_alleles >= x.ploidy THEN x.alt_dosage ELSE 0 END) AS s_alt,
                   sum(CASE WHEN x.called_alleles = 2 AND x.ploidy = 2 THEN 0
                            ELSE 2 - CASE WHEN x.called_alleles >= x.ploidy THEN x.called_alleles ELSE 0 END END) AS deficit
            FROM cpra_index x
            WHERE x.dataset IN {in_list(part)} AND ({member_calls})
            GROUP BY x.dataset, x.contig, x.pos, x.allele_ord) g
          ON g.dataset = a.dataset AND g.contig = a.contig AND g.pos = a.pos AND g.allele_ord = a.allele_ord
        WHERE a.dataset IN {in_list(part)}""")
    # the pass over the stored calls: per (dataset, contig), joined on two integers (strings in a
    # 180M-row join cost 3x); a diploid fully called row is alt_dosage x coefficient, the other
    # rows add the once-per-call terms (a missing call's alt_dosage does not count)
    branches = []
    for d, contig in pairs:
        only_d = f" AND x.dataset = {lit(d)}" if len(members.totals) > 1 else ""
        branches.append(f"""
        SELECT {lit(d)} AS dataset, x.sample_index,
               sum(CASE WHEN x.called_alleles = 2 AND x.ploidy = 2 THEN x.alt_dosage * c.dw
                        WHEN x.called_alleles >= x.ploidy THEN x.alt_dosage * c.dw + c.rw * (x.called_alleles - 2)
                        ELSE x.ploidy * c.rf - 2 * c.rw END) AS d_score,
               sum(CASE WHEN x.called_alleles = 2 AND x.ploidy = 2 THEN x.alt_dosage * c.dn
                        WHEN x.called_alleles >= x.ploidy THEN x.alt_dosage * c.dn + c.rn * (x.called_alleles - 2)
                        ELSE -2 * c.rn END) AS d_named,
               sum(CASE WHEN x.called_alleles <> 2 OR x.ploidy <> 2 THEN
                        c.rep * (CASE WHEN x.called_alleles >= x.ploidy THEN x.called_alleles ELSE 0 END - 2) END) AS d_ct
        FROM cpra_index x
        JOIN (SELECT pos, allele_ord, dw, dn, rep, rw, rn, rf FROM coef WHERE dataset = {lit(d)} AND contig = {lit(contig)}) c
          ON c.pos = x.pos AND c.allele_ord = x.allele_ord
        WHERE x.contig = {lit(contig)}{only_d} AND {members.index_predicate(d, 'x.sample_index')}
        GROUP BY x.sample_index""")
    if not branches:
        branches.append("SELECT CAST(NULL AS VARCHAR) AS dataset, 0 AS sample_index, 0.0 AS d_score, 0 AS d_named, "
                        "0 AS d_ct WHERE FALSE")
    return f"""
WITH w AS MATERIALIZED (
    SELECT i, nullif(f[1], '') AS rsid, nullif(f[2], '') AS contig, CAST(nullif(f[3], '') AS BIGINT) AS pos,
           f[4] AS ea, nullif(f[5], '') AS oa, CAST(f[6] AS DOUBLE) AS weight
    FROM (SELECT i, string_split(x, chr(9)) AS f
          FROM (SELECT generate_subscripts(l, 1) - 1 AS i, unnest(l) AS x
                FROM (SELECT string_split({weights_lit}, chr(10)) AS l)))
),
v AS MATERIALIZED (
    SELECT dataset, contig, pos, ref, alt, allele_ord, rsid, ac, an FROM variants WHERE dataset IN {ds}
),
site AS MATERIALIZED (
    SELECT dataset, contig, pos, ref, min(allele_ord) AS rep_ord, list(alt) AS alts,
           ref IN {_SNP} AND bool_and(alt IN {_SNP}) AS snp,
           count(*) = 1 AND ref || min(alt) IN ('AT', 'TA', 'CG', 'GC') AS palindromic
    FROM v GROUP BY dataset, contig, pos, ref
),
by_rsid AS MATERIALIZED (
    SELECT DISTINCT w.i, v.dataset, v.contig, v.pos, v.ref FROM w JOIN v ON v.rsid = w.rsid
),
cand AS (
    SELECT i, dataset, contig, pos, ref FROM by_rsid
    UNION ALL
    SELECT w.i, s.dataset, s.contig, s.pos, s.ref FROM w JOIN site s ON s.contig = w.contig AND s.pos = w.pos
    WHERE NOT EXISTS (SELECT 1 FROM by_rsid r WHERE r.i = w.i AND r.dataset = s.dataset)
),
cand_alleles AS MATERIALIZED (
    SELECT c.i, c.dataset, c.contig, c.pos, c.ref, w.ea, w.oa, s.snp, s.palindromic, s.alts,
           list_concat([c.ref], s.alts) AS alleles
    FROM cand c JOIN w ON w.i = c.i
    JOIN site s ON s.dataset = c.dataset AND s.contig = c.contig AND s.pos = c.pos AND s.ref = c.ref
),
direct AS (
    SELECT i, dataset, contig, pos, ref, ea AS allele FROM cand_alleles WHERE list_contains(alleles, ea)
),
flipped AS (  -- only when the effect allele matches nowhere as written; never a palindromic SNP
    SELECT c.i, c.dataset, c.contig, c.pos, c.ref, translate(c.ea, 'ACGT', 'TGCA') AS allele
    FROM cand_alleles c
    WHERE c.ea IN {_SNP} AND c.snp AND NOT c.palindromic
      AND (c.oa IS NULL OR (c.oa IN {_SNP} AND c.ea || c.oa NOT IN ('AT', 'TA', 'CG', 'GC')
                            AND list_contains(c.alleles, translate(c.oa, 'ACGT', 'TGCA'))))
      AND list_contains(c.alleles, translate(c.ea, 'ACGT', 'TGCA'))
      AND NOT EXISTS (SELECT 1 FROM direct d WHERE d.i = c.i AND d.dataset = c.dataset)
),
found AS (SELECT * FROM direct UNION ALL SELECT * FROM flipped),
m AS MATERIALIZED (  -- a weight matching one allele of one site; allele_ord 0 = the REF
    SELECT f.i, f.dataset, f.contig, f.pos, f.ref, coalesce(min(v.allele_ord), 0) AS ord, w.weight
    FROM (SELECT i, dataset, any_value(contig) AS contig, any_value(pos) AS pos, any_value(ref) AS ref,
                 any_value(allele) AS allele
          FROM found GROUP BY i, dataset HAVING count(*) = 1) f
    JOIN w ON w.i = f.i
    LEFT JOIN v ON v.dataset = f.dataset AND v.contig = f.contig AND v.pos = f.pos AND v.ref = f.ref
               AND v.alt = f.allele
    GROUP BY f.i, f.dataset, f.contig, f.pos, f.ref, w.weight
),
msite AS MATERIALIZED (
    SELECT dataset, contig, pos, ref, coalesce(sum(weight) FILTER (WHERE ord = 0), 0) AS w_ref,
           count(*) FILTER (WHERE ord = 0) AS n_ref
    FROM m GROUP BY dataset, contig, pos, ref
),
alleles AS MATERIALIZED (  -- every allele of every matched site
    SELECT v.dataset, v.contig, v.pos, v.ref, v.allele_ord, v.ac, v.an, s.rep_ord, ms.w_ref, ms.n_ref,
           coalesce(ma.w_alt, 0) AS w_alt, coalesce(ma.n_alt, 0) AS n_alt
    FROM v JOIN msite ms ON ms.dataset = v.dataset AND ms.contig = v.contig AND ms.pos = v.pos AND ms.ref = v.ref
    JOIN site s ON s.dataset = v.dataset AND s.contig = v.contig AND s.pos = v.pos AND s.ref = v.ref
    LEFT JOIN (SELECT dataset, contig, pos, ord, sum(weight) AS w_alt, count(*) AS n_alt FROM m WHERE ord > 0
               GROUP BY dataset, contig, pos, ord) ma
      ON ma.dataset = v.dataset AND ma.contig = v.contig AND ma.pos = v.pos AND ma.ord = v.allele_ord
),
freq AS ({" UNION ALL ".join(freq_branches)}
),
sfreq AS (  -- per site: its calls' called alleles, and the summed ALT counts
    SELECT f.dataset, f.contig, f.pos, f.ref, any_value(f.denom) FILTER (WHERE f.allele_ord = a.rep_ord) AS denom,
           sum(f.s_alt) AS s_alts
    FROM freq f JOIN alleles a ON a.dataset = f.dataset AND a.contig = f.contig AND a.pos = f.pos
                              AND a.allele_ord = f.allele_ord
    GROUP BY f.dataset, f.contig, f.pos, f.ref
),
imputed AS (  -- F: sum of weight x frequency of its effect allele among non-missing calls
    SELECT m.dataset, m.contig, m.pos, m.ref,
           sum(CASE WHEN sf.denom > 0 THEN m.weight * (CASE WHEN m.ord = 0 THEN sf.denom - sf.s_alts ELSE f.s_alt END)
                                           / sf.denom ELSE 0 END) AS f_w
    FROM m JOIN sfreq sf ON sf.dataset = m.dataset AND sf.contig = m.contig AND sf.pos = m.pos AND sf.ref = m.ref
    LEFT JOIN freq f ON f.dataset = m.dataset AND f.contig = m.contig AND f.pos = m.pos AND f.allele_ord = m.ord
    GROUP BY m.dataset, m.contig, m.pos, m.ref
),
coef AS MATERIALIZED (
    SELECT a.dataset, a.contig, a.pos, a.allele_ord,
           a.w_alt - a.w_ref AS dw, a.n_alt - a.n_ref AS dn,
           CASE WHEN a.allele_ord = a.rep_ord THEN 1 ELSE 0 END AS rep,
           CASE WHEN a.allele_ord = a.rep_ord THEN a.w_ref ELSE 0 END AS rw,
           CASE WHEN a.allele_ord = a.rep_ord THEN a.n_ref ELSE 0 END AS rn,
           CASE WHEN a.allele_ord = a.rep_ord THEN im.f_w ELSE 0 END AS rf
    FROM alleles a JOIN imputed im ON im.dataset = a.dataset AND im.contig = a.contig AND im.pos = a.pos
                                  AND im.ref = a.ref
),
per_sample AS (
    SELECT dataset, sample_index, sum(d_score) AS d_score, sum(d_named) AS d_named, coalesce(sum(d_ct), 0) AS d_ct
    FROM ({" UNION ALL ".join(branches)})
    GROUP BY dataset, sample_index
)
SELECT 0 AS kind, p.dataset, s.sample_id, CAST(NULL AS BIGINT) AS i,
       CAST(p.d_score AS DOUBLE) AS score, CAST(p.d_named AS BIGINT) AS named, CAST(p.d_ct AS BIGINT) AS ct
FROM per_sample p JOIN samples s ON s.dataset = p.dataset AND s.sample_index = p.sample_index
UNION ALL
SELECT 1, dataset, NULL, i, NULL, NULL, NULL FROM m
UNION ALL
SELECT 2, dataset, NULL, NULL, CAST(sum(2 * w_ref) AS DOUBLE), CAST(sum(2 * n_ref) AS BIGINT), CAST(2 * count(*) AS BIGINT)
FROM msite GROUP BY dataset
"""


def _run_statement(engine, query: str) -> pa.Table:
    """`run` without sqlglot's walk over a statement carrying megabytes of weights: the tables are
    named here (provenance), and the DuckDB dialect needs no transpiling."""
    from genolake.queries.provenance import note_reads
    from genolake.queries.sql import transpile

    note_reads(["variants", "cpra_index", "samples"])
    return engine.sql(transpile(query, engine.dialect), trusted=True)


@analysis
def score(engine, weights, *, dataset=None, cohort=None) -> pa.Table:
    """Polygenic score per cohort member (see the module docstring for the rules): columns
    sample_id, dataset, score, allele_ct, named_allele_dosage_sum; sorted by dataset, sample_id.
    `weights` is a path or a table from `read_weights`."""
    import pyarrow.compute as pc

    if getattr(engine, "dialect", "duckdb") != "duckdb":  # the statement uses DuckDB's list functions
        raise QueryError(f"polygenic scores run on the duckdb engine, not {engine.name}; use --engine duckdb")
    if not isinstance(weights, pa.Table):
        weights = read_weights(weights)
    members = members_of(engine, cohort, dataset)
    datasets = members.datasets
    # the (dataset, contig) pairs a weight can name: its contig, or any for an rsID
    contigs = set(pc.unique(weights["contig"].drop_null()).to_pylist())
    any_contig = weights["rsid"].null_count < weights.num_rows
    have = run(engine, f"SELECT DISTINCT dataset, contig FROM variants WHERE dataset IN {in_list(datasets)}")
    pairs = sorted((d, c) for d, c in zip(have["dataset"].to_pylist(), have["contig"].to_pylist())
                   if any_contig or c in contigs)
    got = _run_statement(engine, _score_sql(_weights_literal(weights), members, datasets, pairs))
    kind = got["kind"].to_numpy()

    member_rows = members.table.select(["dataset", "sample_id"])
    n = member_rows.num_rows
    scores, named, allele_ct = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    member_ds = member_rows["dataset"].to_numpy(zero_copy_only=False)
    base = got.filter(pa.array(kind == 2))
    for d, s, nd, ct in zip(*(base[c].to_pylist() for c in ("dataset", "score", "named", "ct"))):
        sel = member_ds == d
        scores[sel] += s
        named[sel] += nd
        allele_ct[sel] += ct
    calls = got.filter(pa.array(kind == 0))
    if calls.num_rows:
        keys = pc.binary_join_element_wise(member_rows["dataset"], member_rows["sample_id"], "\x00")
        at = pc.index_in(pc.binary_join_element_wise(calls["dataset"], calls["sample_id"], "\x00"),
                         value_set=keys).to_numpy(zero_copy_only=False)
        # a sample's calls are summed once; index_in of a member key is its row
        np.add.at(scores, at, calls["score"].to_numpy(zero_copy_only=False))
        np.add.at(named, at, calls["named"].to_numpy(zero_copy_only=False).astype(np.float64))
        np.add.at(allele_ct, at, calls["ct"].to_numpy(zero_copy_only=False))

    match_i = got.filter(pa.array(kind == 1))["i"].to_numpy(zero_copy_only=False)
    hit = np.zeros(weights.num_rows, dtype=bool)
    hit[match_i.astype(np.int64)] = True
    unmatched_rows = np.flatnonzero(~hit)
    shown = weights["id"].take(pa.array(unmatched_rows[:UNMATCHED_SHOWN], pa.int64())).to_pylist()

    out = pa.table({
        "sample_id": member_rows["sample_id"].cast(pa.string()),
        "dataset": member_rows["dataset"].cast(pa.string()),
        "score": pa.array(scores, pa.float64()),
        "allele_ct": pa.array(allele_ct, pa.int64()),
        "named_allele_dosage_sum": pa.array(named, pa.float64()),
    }, schema=SCORE_SCHEMA).sort_by([("dataset", "ascending"), ("sample_id", "ascending")])
    meta = {b"prs_matched": str(int(hit.sum())).encode(), b"prs_unmatched": str(len(unmatched_rows)).encode(),
            b"prs_unmatched_ids": json.dumps(shown).encode(),
            b"prs_matched_sites": str(len(match_i)).encode()}
    return out.replace_schema_metadata(meta)
