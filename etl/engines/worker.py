"""A worker process for the local engine: `python -m genolake.etl.engines.worker JOB RESULT PARENT_PID`.

Workers are plain subprocesses rather than a multiprocessing pool: a fresh interpreter cannot
inherit a lock held by one of the parent's native thread pools (pyarrow, delta-rs), and it does
not re-import the caller's main module, so a notebook or an unguarded script works too.
A worker dies with its parent (PR_SET_PDEATHSIG), so a killed ingest leaves no writer behind.
Progress goes to stdout as lines of "+N".
"""

from __future__ import annotations

import ctypes
import importlib
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path

from genolake.lake.errors import GenolakeError, one_line

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux: the parent still kills workers on its own errors


def _stdout_progress(n: int) -> None:
    sys.stdout.write(f"+{n}\n")
    sys.stdout.flush()


def main(job_path: str, result_path: str, parent_pid: str) -> int:
    _die_with_parent()
    if os.getppid() != int(parent_pid):
        return 1  # the parent died before the death signal was armed: write nothing
    with open(job_path, "rb") as fh:
        module, func, args = pickle.load(fh)
    fn = getattr(importlib.import_module(module), func)
    from . import local

    local.set_progress(_stdout_progress)
    result = fn(args)
    tmp = result_path + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, result_path)
    return 0


def run_jobs(fn, jobs: list, scratch: Path, progress=None) -> list:
    """Run fn(job) for each job in its own worker process, all at once; results in job order."""
    scratch.mkdir(parents=True, exist_ok=True)
    procs = []
    lock = threading.Lock()
    readers = []
    try:
        for i, job in enumerate(jobs):
            job_path, result_path = scratch / f"job-{i}.pkl", scratch / f"result-{i}.pkl"
            with open(job_path, "wb") as fh:
                pickle.dump((fn.__module__, fn.__name__, job), fh, protocol=pickle.HIGHEST_PROTOCOL)
            err_path = scratch / f"stderr-{i}.txt"
            with open(err_path, "w") as err_fh:  # a file, not a pipe: a chatty worker cannot block
                p = subprocess.Popen([sys.executable, "-m", "genolake.etl.engines.worker", str(job_path), str(result_path),
                                      str(os.getpid())],
                                     stdout=subprocess.PIPE, stderr=err_fh, text=True, env=_worker_env())
            procs.append((p, result_path, err_path))
            t = threading.Thread(target=_pump, args=(p.stdout, progress, lock), daemon=True)
            t.start()
            readers.append(t)
        results = []
        for p, result_path, err_path in procs:
            p.wait()
            if p.returncode != 0 or not result_path.exists():
                lines = err_path.read_text(errors="replace").strip().splitlines()
                why = f", killed by signal {-p.returncode} (out of memory?)" if p.returncode < 0 else ""
                raise GenolakeError(one_line(f"ingest worker failed (exit {p.returncode}{why})"
                                             + (f": {lines[-1]}" if lines else "")))
        for t in readers:
            t.join()
        for _, result_path, _ in procs:
            with open(result_path, "rb") as fh:
                results.append(pickle.load(fh))
        return results
    finally:
        for p, _, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _worker_env() -> dict:
    """Workers allocate and free buffers of many MB per chunk: keep glibc from returning them to
    the kernel and faulting them in again each time (it showed as a fifth of the CPU time)."""
    env = dict(os.environ)
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(256 * 2**20))
    env.setdefault("MALLOC_TRIM_THRESHOLD_", str(512 * 2**20))
    env.setdefault("MALLOC_TOP_PAD_", str(64 * 2**20))
    return env


def _pump(stream, progress, lock):
    for line in stream:
        if progress is not None and line.startswith("+"):
            with lock:
                progress(int(line[1:]))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
