"""One typed error family. Every message is one line a user can act on."""

from __future__ import annotations


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
