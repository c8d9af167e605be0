"""Cohorts: which samples an analysis counts.

A cohort is a conjunction of terms over the `samples` table, written as text on the command line
and in notebooks:

    Cohort.parse("super_pop=EAS")                 # one super-population
    Cohort.parse("super_pop=EAS,EUR; sex=female")  # terms joined by ';' are ANDed; ',' is OR within a term
    Cohort.parse("pop=CHB")                       # a population
    Cohort.parse("samples=HG00096,HG00097")       # named samples
    Cohort.parse("file=cohort.txt")               # one sample ID per line ('#' comments)
    Cohort.parse("pattern=HG00*")                 # shell glob on sample_id (* ? [...])
    Cohort.parse("dataset=1kg")                   # every sample of one dataset
    Cohort.parse(None) / Cohort.parse("")         # everyone

`resolve(engine, cohort)` gives the member rows and refuses cohorts naming things the lake does not
have (a QueryError naming them) or matching nobody. `cohort_sql(cohort)` is the same cohort as a
SQL predicate over `samples`, for analyses to use inside their own queries.

`members_of(engine, cohort, dataset)` is what the analyses use: the member rows, |C_d| and the
dataset sizes, and per dataset the shortest exact predicate selecting C_d (the cohort's own terms,
or runs of `sample_index`: "the first 1,000 samples of the callset" is one BETWEEN, not 1,000
quoted names for the SQL parser and the engine to read). The samples table is read once per engine
and samples version and matched in Python (the tests hold that equal to `cohort_sql`); resolved
cohorts are cached with it.

A sample is identified by (dataset, sample_id): the same ID in two datasets is two members.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import pyarrow as pa

from genolake.lake.errors import QueryError, QueryNotFound

from .provenance import note_reads
from .sql import in_list, lit, run

__all__ = ["Cohort", "Members", "resolve", "members_of", "cohort_sql", "as_cohort", "COHORT_KEYS", "MEMBER_COLUMNS"]

MEMBER_COLUMNS = ("dataset", "sample_id", "population", "super_population", "sex")

# key as typed -> canonical key
_KEYS = {
    "super_pop": "super_pop", "super_population": "super_pop", "superpop": "super_pop",
    "pop": "pop", "population": "pop",
    "sex": "sex", "gender": "sex",
    "samples": "samples", "sample": "samples", "sample_id": "samples",
    "file": "file",
    "pattern": "pattern", "id_pattern": "pattern",
    "dataset": "dataset",
}
COHORT_KEYS = ("super_pop", "pop", "sex", "samples", "file", "pattern", "dataset")
_FORM = ("terms KEY=VALUE joined by ';', keys: " + ", ".join(COHORT_KEYS)
         + " (e.g. 'super_pop=EAS,EUR; sex=female')")
_SEXES = {"female": "female", "f": "female", "male": "male", "m": "male",
          "unknown": "unknown", "na": "unknown", "none": "unknown", "null": "unknown"}
_FILE_HEADER_WORDS = {"sample", "samples", "sample_id", "id", "#sample"}
_SHOW = 5  # names shown in a description or an error before "... and N more"


def _norm_sex(value) -> str | None:
    if value is None:
        return None
    key = str(value).strip().lower()
    if key not in _SEXES:
        raise QueryError(f"sex {value!r} is not one of female, male, unknown")
    return _SEXES[key]


def _names(values, what: str, *, exact: bool = False) -> tuple[str, ...]:
    """Names from a comma string (each stripped) or a list; `exact`: list items are kept as given
    (a VCF sample ID may have spaces at its ends, or a comma)."""
    if values is None:
        return ()
    text = isinstance(values, str)
    if text:
        values = values.split(",")
    out: dict[str, None] = {}
    for v in values:
        if not isinstance(v, str):
            raise QueryError(f"{what} must be names (text), got {v!r}")
        if text or not exact or not v.strip():
            v = v.strip()
        if v:
            out[v] = None
    return tuple(out)


def _shown(names, n: int = _SHOW) -> str:
    names = list(names)
    text = ", ".join(names[:n])
    return text + (f" and {len(names) - n} more" if len(names) > n else "")


@dataclass(frozen=True)
class Cohort:
    """Samples matching every given field (an empty field does not restrict)."""

    dataset: str | None = None
    populations: tuple[str, ...] = ()
    super_populations: tuple[str, ...] = ()
    sex: str | None = None
    samples: tuple[str, ...] = ()
    id_pattern: str | None = None  # shell glob on sample_id, e.g. "HG00*"

    def __post_init__(self):
        # lists and comma strings become tuples (hashable, comparable); sex is normalised
        object.__setattr__(self, "populations", _names(self.populations, "populations"))
        object.__setattr__(self, "super_populations", _names(self.super_populations, "super-populations"))
        object.__setattr__(self, "samples", _names(self.samples, "samples", exact=True))
        object.__setattr__(self, "sex", _norm_sex(self.sex))
        if self.dataset is not None:
            ds = str(self.dataset).strip()
            object.__setattr__(self, "dataset", ds or None)
        if self.id_pattern is not None:
            pat = str(self.id_pattern).strip()
            object.__setattr__(self, "id_pattern", pat or None)

    @property
    def is_everyone(self) -> bool:
        """No restriction at all (every sample of every dataset)."""
        return not any(getattr(self, f.name) for f in fields(self))

    @classmethod
    def parse(cls, text: str | None) -> "Cohort":
        """A Cohort from text such as "super_pop=EAS,EUR; sex=female" (None or "" is everyone)."""
        if text is None:
            return cls()
        if isinstance(text, Cohort):
            return text
        if not isinstance(text, str):
            raise QueryError(f"a cohort is text like 'super_pop=EAS', got {text!r}")
        values: dict[str, str] = {}
        for term in text.split(";"):
            term = term.strip()
            if not term:
                continue
            key, sep, value = term.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep:
                raise QueryError(f"cohort term {term!r} has no '='; expected {_FORM}")
            if key not in _KEYS:
                raise QueryError(f"unknown cohort key {key!r} in {text!r}; keys: {', '.join(COHORT_KEYS)}")
            canon = _KEYS[key]
            if not value:
                raise QueryError(f"cohort term {term!r} has no value; expected {_FORM}")
            if canon in values:
                raise QueryError(f"cohort key {canon!r} is given twice in {text!r}; "
                                 f"list the values in one term, e.g. {canon}=A,B")
            values[canon] = value
        if "samples" in values and "file" in values:
            raise QueryError(f"cohort {text!r}: give samples= or file=, not both")
        samples = _names(values["samples"], "samples") if "samples" in values else ()
        if "file" in values:
            samples = _read_sample_file(values["file"])
        if "sex" in values and "," in values["sex"]:
            raise QueryError(f"cohort {text!r}: sex takes one value (female, male or unknown)")
        if "dataset" in values and "," in values["dataset"]:
            raise QueryError(f"cohort {text!r}: dataset takes one name")
        return cls(
            dataset=values.get("dataset"),
            populations=_names(values.get("pop"), "populations"),
            super_populations=_names(values.get("super_pop"), "super-populations"),
            sex=values.get("sex"),
            samples=samples,
            id_pattern=values.get("pattern"),
        )

    def describe(self) -> str:
        """A short label: "super_pop=EAS", "dataset=1kg; sex=female", "all samples"."""
        parts = []
        if self.dataset:
            parts.append(f"dataset={self.dataset}")
        if self.super_populations:
            parts.append("super_pop=" + ",".join(self.super_populations))
        if self.populations:
            parts.append("pop=" + ",".join(self.populations))
        if self.sex:
            parts.append(f"sex={self.sex}")
        if self.samples:
            if len(self.samples) <= _SHOW:
                parts.append("samples=" + ",".join(self.samples))
            else:
                parts.append("samples=" + ",".join(self.samples[:3]) + f",… ({len(self.samples)} samples)")
        if self.id_pattern:
            parts.append(f"pattern={self.id_pattern}")
        return "; ".join(parts) if parts else "all samples"

    def __str__(self) -> str:
        return self.describe()


def as_cohort(value) -> Cohort:
    """A Cohort from a Cohort, cohort text, None (everyone) or a list of sample IDs."""
    if value is None or isinstance(value, Cohort):
        return value or Cohort()
    if isinstance(value, str):
        return Cohort.parse(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return Cohort(samples=tuple(sorted(value)) if isinstance(value, (set, frozenset)) else tuple(value))
    raise QueryError(f"a cohort is a Cohort, text like 'super_pop=EAS' or a list of sample IDs, got {value!r}")


# A sample-list file is user input: read at most this much, as IDs, and never echo what else it holds.
MAX_SAMPLE_FILE_BYTES = 16 * 1024 * 1024
_SAMPLE_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SHOWN_IDS = 3  # IDs an error names at most


def looks_like_sample_id(text: str) -> bool:
    """Letters, digits, '_', '.', '-', at most 64 characters (what an error may show of user text)."""
    return bool(_SAMPLE_ID_RE.match(text))


def masked(text: str) -> str:
    """`text` when it looks like a sample ID, else only its length: "<23 chars hidden>"."""
    return text if looks_like_sample_id(text) else f"<{len(text)} chars hidden>"


def masked_ids(names, n: int = _SHOWN_IDS) -> str:
    """At most `n` of `names`, masked unless they look like sample IDs, then "and N more"."""
    names = list(names)
    text = ", ".join(masked(x) for x in names[:n])
    return text + (f" and {len(names) - n} more" if len(names) > n else "")


def _read_sample_file(path_text: str) -> tuple[str, ...]:
    """Sample IDs from a file: one per line (a panel-like file: its first column) or separated by
    commas/whitespace on one line; '#' starts a comment; a first 'sample'/'id' header is skipped.
    At most MAX_SAMPLE_FILE_BYTES of text; anything that is not a sample ID is refused without
    showing it (the file could be anything: /etc/shadow, /proc/self/environ)."""
    path = Path(path_text).expanduser()
    if not path.exists():
        raise QueryError(f"cohort file {path_text}: no such file")
    if not path.is_file():
        raise QueryError(f"cohort file {path_text}: not a regular file")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SAMPLE_FILE_BYTES + 1)  # /proc files report size 0: read, bounded
    except OSError as err:
        raise QueryError(f"cohort file {path_text}: cannot read it ({err.strerror or err.__class__.__name__})") from None
    if len(data) > MAX_SAMPLE_FILE_BYTES:
        raise QueryError(f"cohort file {path_text} is larger than {MAX_SAMPLE_FILE_BYTES // (1024 * 1024)} MiB; "
                         "a sample list has one sample ID per line")
    if b"\x00" in data:
        raise QueryError(f"cohort file {path_text} is not a text list of sample IDs (it holds binary data)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise QueryError(f"cohort file {path_text} is not UTF-8 text; a sample list has one sample ID per line") from None
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    tokens: list[str] = []
    for i, line in enumerate(lines):
        if len(lines) == 1 or "," in line:  # "A,B,C" or "A B C": every field
            fields_ = [t for t in re.split(r"[,\s]+", line) if t]
        else:  # one per line; a panel-like file's first column
            fields_ = line.split()[:1]
        if i == 0 and fields_ and fields_[0].lower() in _FILE_HEADER_WORDS:  # a header row
            fields_ = fields_[1:] if len(lines) == 1 else []
        tokens.extend(fields_)
    if not tokens:
        raise QueryError(f"cohort file {path_text} lists no samples (one sample ID per line)")
    bad = [t for t in tokens if not looks_like_sample_id(t)]
    if bad:
        raise QueryError(f"cohort file {path_text}: {len(bad)} of {len(tokens)} entries are not sample IDs "
                         f"(letters, digits, _ . -, at most 64 characters): {masked_ids(bad)}")
    return tuple(dict.fromkeys(tokens))


_GLOB_SPECIAL = set(".^$+(){}|\\")


def _glob_regex(pattern: str) -> str:
    """A shell glob (* ? [abc] [!abc]) as an anchored regular expression (RE2/Java/POSIX-safe)."""
    out, i, n = ["^"], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = pattern.find("]", i + 2 if i + 1 < n and pattern[i + 1] in "!^" else i + 1)
            if j == -1:
                out.append("\\[")
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        elif c in _GLOB_SPECIAL or c == "]":
            out.append("\\" + c)
        else:
            out.append(c)
        i += 1
    out.append("$")
    return "".join(out)


def cohort_sql(cohort) -> str:
    """The cohort as a SQL predicate over `samples` columns (no table alias), DuckDB dialect.
    Every value is quoted; an unrestricted cohort is TRUE."""
    c = as_cohort(cohort)
    preds = []
    if c.dataset:
        preds.append(f"dataset = {lit(c.dataset)}")
    if c.super_populations:
        preds.append(f"super_population IN {in_list(c.super_populations)}")
    if c.populations:
        preds.append(f"population IN {in_list(c.populations)}")
    if c.sex == "unknown":
        preds.append("sex IS NULL")
    elif c.sex:
        preds.append(f"lower(sex) IN {in_list([c.sex, c.sex[0]])}")
    if c.samples:
        preds.append(f"sample_id IN {in_list(c.samples)}")
    if c.id_pattern:
        preds.append(f"regexp_matches(sample_id, {lit(_glob_regex(c.id_pattern))})")
    return " AND ".join(preds) if preds else "TRUE"


_MEMBERS_SCHEMA = pa.schema([(name, pa.string()) for name in MEMBER_COLUMNS])


def resolve(engine, cohort: Cohort | str | None) -> pa.Table:
    """The `samples` rows in `cohort` (dataset, sample_id, population, super_population, sex), sorted
    by dataset, sample_id. QueryError when the cohort names a dataset, population, super-population
    or sample the lake does not have, or matches no samples."""
    return members_of(engine, cohort).table


def _matches(c: Cohort, pattern: re.Pattern | None, samples: frozenset, row: dict) -> bool:
    """`cohort_sql(c)` evaluated in Python on one `samples` row (tests hold the two equal)."""
    if c.dataset and row["dataset"] != c.dataset:
        return False
    if c.super_populations and row["super_population"] not in c.super_populations:
        return False
    if c.populations and row["population"] not in c.populations:
        return False
    if c.sex == "unknown":
        if row["sex"] is not None:
            return False
    elif c.sex and (row["sex"] is None or row["sex"].lower() not in (c.sex, c.sex[0])):
        return False
    if samples and row["sample_id"] not in samples:
        return False
    return not (pattern and not pattern.match(row["sample_id"]))


@dataclass(frozen=True)
class Members:
    """A resolved cohort at the engine's snapshot: its definition, its member rows, the number of
    members and of samples per dataset, and each dataset's members as a compact SQL predicate."""

    cohort: Cohort
    table: pa.Table  # dataset, sample_id, population, super_population, sex; sorted
    sizes: dict[str, int]  # dataset -> |C_d| (datasets with members)
    totals: dict[str, int]  # dataset -> samples in the dataset (every dataset of the lake)
    predicates: dict[str, str]  # dataset -> predicate over `samples` selecting C_d (dataset included)
    indexes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # dataset -> C_d's sample_index, sorted

    @property
    def datasets(self) -> list[str]:
        """Datasets with members, sorted."""
        return sorted(self.sizes)

    @property
    def full(self) -> list[str]:
        """Datasets the cohort covers completely."""
        return [d for d in self.datasets if self.sizes[d] == self.totals[d]]

    def index_predicate(self, dataset: str, col: str = "sample_index") -> str:
        """Predicate over a calls table's `col` (a sample_index column) selecting C_d's calls: TRUE for
        a whole dataset, else runs of indexes as BETWEENs that the engine pushes into the scan, or,
        for a scattered cohort, a semi-join on `samples`."""
        if self.sizes[dataset] == self.totals[dataset]:
            return "TRUE"
        runs = _runs(list(self.indexes[dataset]))
        if len(runs) <= _MAX_INLINE_RUNS:
            text, _ = _index_predicate(runs, col)
            return f"({text})"
        return f"{col} IN (SELECT sample_index FROM samples WHERE {self.predicates[dataset]})"

    def predicate(self, datasets=None) -> str:
        """Predicate over `samples` selecting the members of `datasets` (default: all of them)."""
        chosen = self.datasets if datasets is None else sorted(datasets)
        if not chosen:
            return "FALSE"
        return " OR ".join(f"({self.predicates[d]})" for d in chosen)


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


# Runs of member indexes written into a calls-table predicate; more go through a semi-join.
_MAX_INLINE_RUNS = 64


def _index_predicate(runs: list[tuple[int, int]], col: str = "sample_index") -> tuple[str, int]:
    """`sample_index IN (...) OR sample_index BETWEEN a AND b ...` and its number of literals."""
    single = [a for a, b in runs if a == b]
    ranges = [(a, b) for a, b in runs if a != b]
    parts = ([f"{col} IN {in_list(single)}"] if single else []) + \
        [f"{col} BETWEEN {a} AND {b}" for a, b in ranges]
    return " OR ".join(parts) or "FALSE", len(single) + 2 * len(ranges)


def _dataset_predicate(c: Cohort, dataset: str, member_idx: list[int], all_idx: list[int]) -> str:
    """The shortest exact predicate for the cohort's members of one dataset: the cohort's own
    definition, or runs of their `sample_index` (the callset's column order: "the first 1,000
    samples" is one BETWEEN), or the runs of the samples left out. Exact because it is computed
    from the rows of the engine's own snapshot."""
    base = f"dataset = {lit(dataset)}"
    if len(member_idx) == len(all_idx):
        return base
    own = cohort_sql(replace(c, dataset=None))
    own_cost = (len(c.samples) + len(c.populations) + len(c.super_populations)
                + (1 if c.sex else 0) + (1 if c.id_pattern else 0))
    inside, in_cost = _index_predicate(_runs(member_idx))
    keep = set(member_idx)
    outside, out_cost = _index_predicate(_runs([i for i in all_idx if i not in keep]))
    best = min((own_cost, 0, own), (in_cost, 1, f"({inside})"), (out_cost, 2, f"NOT ({outside})"))
    return f"{base} AND {best[2]}"


# Per engine: the samples table at the version it is bound to, and the cohorts resolved against it.
# A cohort's members depend on nothing else, so a warm engine resolves a repeated cohort for free;
# a refreshed engine (new samples version) starts over.
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_CACHED_COHORTS = 64


def _samples_rows(engine) -> tuple[list[dict], dict | None]:
    note_reads(["samples"])  # a cached answer was still read from samples
    binding = None
    try:
        binding = engine.bindings().get("samples")
    except Exception:  # an engine that cannot list its bindings: no caching
        binding = None
    key = (binding.version, binding.files) if binding is not None else None
    try:
        entry = _CACHE.get(engine)
    except TypeError:  # not weak-referenceable
        entry = None
    if entry is not None and key is not None and entry["key"] == key:
        return entry["rows"], entry["cohorts"]
    # every sample (a small table), matched in Python: no list of names travels into this query
    rows = run(engine, "SELECT dataset, sample_id, sample_index, population, super_population, sex FROM samples "
                       "ORDER BY dataset, sample_id").to_pylist()
    cohorts: dict | None = None
    if key is not None:
        cohorts = {}
        try:
            _CACHE[engine] = {"key": key, "rows": rows, "cohorts": cohorts}
        except TypeError:
            cohorts = None
    return rows, cohorts


def members_of(engine, cohort=None, dataset: str | None = None) -> Members:
    """Resolve `cohort` (a Cohort, cohort text, a list of sample IDs, or None for everyone),
    optionally restricted to `dataset`, at the engine's snapshot. QueryError for names the lake
    does not have and for a cohort without members."""
    c = as_cohort(cohort)
    if dataset is not None:
        if not isinstance(dataset, str) or not dataset.strip():
            raise QueryError(f"dataset must be a dataset name, got {dataset!r}")
        dataset = dataset.strip()
        if c.dataset and c.dataset != dataset:
            raise QueryError(f"dataset {dataset!r} contradicts the cohort's dataset={c.dataset}")
        c = replace(c, dataset=dataset)
    rows, cache = _samples_rows(engine)
    if cache is not None and c in cache:
        return cache[c]
    members = _members(c, rows)
    if cache is not None:
        if len(cache) >= _CACHED_COHORTS:
            cache.pop(next(iter(cache)))
        cache[c] = members
    return members


def _members(c: Cohort, rows: list[dict]) -> Members:
    if not rows:
        raise QueryError("the lake has no samples yet: ingest a VCF first (genolake ingest vcf FILE --dataset NAME)")
    _check_names(c, {name: [r[name] for r in rows] for name in MEMBER_COLUMNS})
    pattern = re.compile(_glob_regex(c.id_pattern)) if c.id_pattern else None
    named = frozenset(c.samples)
    chosen = [r for r in rows if _matches(c, pattern, named, r)]
    if not chosen:
        raise QueryError(f"cohort {c.describe()} matches no samples")
    table = pa.table({name: pa.array([r[name] for r in chosen], pa.string()) for name in MEMBER_COLUMNS},
                     schema=_MEMBERS_SCHEMA)
    totals: dict[str, int] = {}
    all_idx: dict[str, list[int]] = {}
    for r in rows:
        totals[r["dataset"]] = totals.get(r["dataset"], 0) + 1
        all_idx.setdefault(r["dataset"], []).append(int(r["sample_index"]))
    member_idx: dict[str, list[int]] = {}
    for r in chosen:
        member_idx.setdefault(r["dataset"], []).append(int(r["sample_index"]))
    predicates = {d: _dataset_predicate(c, d, sorted(idx), sorted(all_idx[d])) for d, idx in member_idx.items()}
    return Members(c, table, {d: len(v) for d, v in member_idx.items()}, totals, predicates,
                   {d: tuple(sorted(v)) for d, v in member_idx.items()})


def _check_names(c: Cohort, cols: dict[str, list]) -> None:
    datasets = sorted(set(cols["dataset"]))
    if c.dataset and c.dataset not in datasets:
        raise QueryNotFound(f"dataset {c.dataset!r} is not in the lake; datasets: {_shown(datasets, 20)}")
    for field_name, column, label in (("super_populations", "super_population", "super-population"),
                                      ("populations", "population", "population")):
        wanted = getattr(c, field_name)
        if not wanted:
            continue
        known = sorted({v for v in cols[column] if v is not None})
        missing = [w for w in wanted if w not in known]
        if missing:
            if not known:
                raise QueryNotFound(f"{label} {_shown(repr(m) for m in missing)} is not in the lake: no sample has a "
                                 f"{label} (attach a panel: genolake ingest panel PANEL --dataset NAME)")
            hint = ""
            folded = {k.lower(): k for k in known}
            close = [folded[m.lower()] for m in missing if m.lower() in folded]
            if close:
                hint = f" (did you mean {', '.join(close)}?)"
            raise QueryNotFound(f"{label} {', '.join(repr(m) for m in missing)} "
                             f"{'is' if len(missing) == 1 else 'are'} not in the lake{hint}; "
                             f"known {label}s: {', '.join(known)}")
    if c.samples:
        if c.dataset:
            known_ids = {s for s, d in zip(cols["sample_id"], cols["dataset"]) if d == c.dataset}
            where = f"dataset {c.dataset!r}"
        else:
            known_ids = set(cols["sample_id"])
            where = "the lake"
        missing = [s for s in c.samples if s not in known_ids]
        if missing:
            noun = "sample" if len(missing) == 1 else f"{len(missing)} samples"
            raise QueryNotFound(f"{noun} not in {where}: {masked_ids(missing)}")
