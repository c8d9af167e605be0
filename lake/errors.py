"""One typed error family. Every message is one line a user can act on.

`EXIT_CODES` is the one table of the command's exit statuses: `genolake --help` prints it and the
README shows the same table (tests/test_polish.py compares them)."""

from __future__ import annotations

import re

# status -> what it means; each GenolakeError subclass's `exit_code` is one of these
EXIT_CODES = {
    0: "ok",
    1: "other genolake error",
    2: "bad option or configuration",
    3: "input refused (the file stays in quarantine: `genolake quarantine list`)",
    4: "not found (table, run, rsID, CPRA, gene, sample, quarantine entry)",
    5: "lake state (no lake, unreadable or damaged catalog, read-only lake, another ingest running)",
    6: "query refused or malformed (SQL that writes, bad region/CPRA/rsID/cohort, too large)",
    7: "model refused (checksum or trusted-type check failed, not made by the registry, feature schema changed)",
    70: "internal error (a bug: GENOLAKE_DEBUG=1 shows the traceback)",
    130: "interrupted",
}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def one_line(text) -> str:
    """A message as one line: ANSI colour codes (some libraries colour their errors) removed and
    all whitespace runs, newlines included, collapsed to one space."""
    return " ".join(_ANSI.sub("", str(text)).split())


def exit_code_table(indent: str = "  ") -> str:
    """EXIT_CODES as the aligned text `genolake --help` prints."""
    return "\n".join(f"{indent}{code:<4} {meaning}" for code, meaning in EXIT_CODES.items())


def _restore(cls, args, state):
    err = Exception.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class GenolakeError(Exception):
    """Base of every error genolake raises on purpose. `exit_code` is what the CLI returns."""

    exit_code = 1

    def __reduce__(self):
        # errors cross from worker processes: rebuild them as they were, whatever __init__ takes
        return (_restore, (self.__class__, self.args, self.__dict__))


class ConfigError(GenolakeError):
    """The lake root or an option is unusable."""

    exit_code = 2


class InputError(GenolakeError):
    """A user's file is wrong: names the file, the line (when known) and the problem."""

    exit_code = 3

    def __init__(self, path, problem: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class ScanFailed(InputError):
    """A quarantine scan (integrity, size, PHI) refused the file."""

    def __init__(self, path, problem: str, scan: str, line: int | None = None):
        self.scan = scan
        super().__init__(path, problem, line)


class QuarantinedError(GenolakeError):
    """The file was refused and stays in quarantine; `reason_path` is its reason.json."""

    exit_code = 3

    def __init__(self, cause: InputError, reason_path):
        self.cause = cause
        self.reason_path = str(reason_path)
        super().__init__(f"{cause} (quarantined: {self.reason_path})")


class NotFoundError(GenolakeError):
    """A named table, run, dataset or quarantine entry does not exist."""

    exit_code = 4


class LakeStateError(GenolakeError):
    """The lake on disk is not what the operation needs (e.g. not initialised)."""

    exit_code = 5


class QueryError(GenolakeError):
    """A request the query layer cannot answer as asked: unknown rsID/gene/sample, a malformed
    region, an empty cohort, SQL that would write."""

    exit_code = 6


class QueryNotFound(QueryError, NotFoundError):
    """A query named something the lake does not have: an rsID, CPRA, gene, sample or dataset."""

    exit_code = 4


class ModelError(GenolakeError):
    """A registered model cannot be used: its file fails the checksum or holds an untrusted type, the
    registry did not make it, or the lake's features no longer match the ones it was trained on."""

    exit_code = 7
