"""What every benchmark here shares: the machine's facts (hardware, versions, git), waiting for
the machine to go idle and counting the CPU other processes used meanwhile, and summarising timings."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

GiB = 2**30
MiB = 2**20

DATA_ENV = "GENOLAKE_BENCH_DATA"
DATA_HELP = ("data folder: <DIR>/<scale>/cohort.chr22.vcf.gz is used when present, else the scale is simulated "
             f"once into DIR and reused (default: ${DATA_ENV}, else ./genolake-bench/data)")
OUT_HELP = "folder for the results (default: ./genolake-bench/results in the working directory)"


def data_dir(value: str | os.PathLike | None = None) -> Path:
    """The benchmark data folder: `value` (--data-dir), else $GENOLAKE_BENCH_DATA, else
    ./genolake-bench/data in the working directory. Never a fixed machine path."""
    value = value or os.environ.get(DATA_ENV) or Path.cwd() / "genolake-bench" / "data"
    return Path(value).expanduser().resolve()


def out_dir(value: str | os.PathLike | None = None) -> Path:
    """Where results and reports go: `value` (--out), else ./genolake-bench/results in the working
    directory (never the installed package's folder)."""
    return Path(value or Path.cwd() / "genolake-bench" / "results").expanduser().resolve()


def write_results(out_arg, kind: str, result: dict, markdown_text: str) -> tuple[Path, Path]:
    """`<out>/<kind>-<name>.json` (the whole result) and `.md` (the summary); returns both paths."""
    import json

    out = out_dir(out_arg)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{kind}-{result['name']}.json", out / f"{kind}-{result['name']}.md"
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    md_path.write_text(markdown_text)
    return json_path, md_path


def preset_dir(data: Path, scale: str) -> Path | None:
    """<data>/<scale>/ when it holds a prepared cohort (cohort.chr22.vcf.gz), else None."""
    d = Path(data) / scale
    return d if (d / "cohort.chr22.vcf.gz").is_file() else None


def need_psutil():
    try:
        import psutil
    except ImportError:
        raise SystemExit("the benchmarks need psutil: pip install -e '.[bench]' (or pip install psutil)")
    return psutil


class CpuWatch:
    """CPU seconds over a stretch: the whole machine's (busy_s), this process's (own_s), its reaped
    children's (children_s), and the wall time. `others()` is what none of those used: other load."""

    def __enter__(self):
        self.t = need_psutil().cpu_times()
        self.times = os.times()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        t1, times = need_psutil().cpu_times(), os.times()
        busy = lambda t: sum(getattr(t, f) for f in t._fields if f not in ("idle", "iowait", "guest", "guest_nice"))
        self.wall_s = time.perf_counter() - self.t0
        self.busy_s = busy(t1) - busy(self.t)
        self.own_s = sum(times[:2]) - sum(self.times[:2])
        self.children_s = sum(times[2:4]) - sum(self.times[2:4])
        return False

    def others(self, measured_cpu_s: float | None = None) -> float:
        """Other load: the machine's busy time less this process and the measured processes (by
        default its reaped children)."""
        measured = self.children_s if measured_cpu_s is None else measured_cpu_s
        return max(0.0, self.busy_s - self.own_s - measured)


def wait_idle(max_wait: float, below: float, log) -> float:
    """Wait (at most `max_wait` s) until the machine is idle: two 2-s windows in a row in which all
    processes together used less than `below` cores. Returns the seconds waited."""
    if max_wait <= 0:
        return 0.0
    psutil = need_psutil()
    busy = lambda t: sum(getattr(t, f) for f in t._fields if f not in ("idle", "iowait", "guest", "guest_nice"))
    t0 = time.perf_counter()
    quiet, told = 0, False
    while time.perf_counter() - t0 < max_wait:
        a, ta = busy(psutil.cpu_times()), time.perf_counter()
        time.sleep(2.0)
        used = (busy(psutil.cpu_times()) - a) / (time.perf_counter() - ta)
        quiet = quiet + 1 if used < below else 0
        if quiet >= 2:
            break
        if not told and quiet == 0:
            log(f"[bench]   waiting for the machine to go idle ({used:.2f} cores busy) ...")
            told = True
    return time.perf_counter() - t0


class LoadGuard:
    """Measures a step when the machine is idle, and again (up to `retries` times) when other
    processes used more than `max_other_load` cores meanwhile; keeps the account of waiting,
    contention and discarded attempts that a result reports (`summary()`)."""

    def __init__(self, *, wait_idle_s: float, idle_below: float, max_other_load: float, retries: int, log):
        self.wait_idle_s, self.idle_below, self.max_other_load, self.retries, self.log = \
            wait_idle_s, idle_below, max_other_load, retries, log
        self.load_before = os.getloadavg()
        self.contention_s = self.idle_wait_s = self.own_cpu_s = 0.0
        self.discarded: list[dict] = []

    def run(self, label: str, run_once, *, measured_cpu=None, failed=None, prepare=None, discard=None):
        """`run_once(attempt)` -> out; returns (out, others_cpu_s, waited_s, attempt, wall_s).
        `measured_cpu(out)`: CPU seconds of the measured processes (default: reaped children);
        `failed(out)`: a failed step is kept as it is; `prepare`/`discard(attempt)` around attempts."""
        for attempt in range(self.retries + 1):
            if prepare:
                prepare(attempt)
            waited = wait_idle(self.wait_idle_s, self.idle_below, self.log)
            self.idle_wait_s += waited
            with CpuWatch() as cw:
                out = run_once(attempt)
            others = cw.others(measured_cpu(out) if measured_cpu else None)
            self.own_cpu_s += cw.own_s
            load = others / max(cw.wall_s, 1e-6)
            if (failed and failed(out)) or load <= self.max_other_load or attempt == self.retries:
                self.contention_s += others
                return out, others, waited, attempt, cw.wall_s
            self.log(f"[bench]   {label}: {cw.wall_s:.1f} s but other processes used {load:.2f} cores meanwhile: again")
            self.discarded.append({"what": label, "wall_s": cw.wall_s, "others_cpu_s": others})
            if discard:
                discard(attempt)
        raise AssertionError("unreachable")

    def summary(self) -> dict:
        return {"load_average": {"before": self.load_before, "after": os.getloadavg()},
                "contention_cpu_s": round(self.contention_s, 2), "waited_for_idle_s": round(self.idle_wait_s, 1),
                "contended_attempts_discarded": self.discarded}


# ---------------------------------------------------------------- the machine

def _run_text(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def hardware() -> dict:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = need_psutil().virtual_memory().total
    return {"nproc": os.cpu_count(), "nproc_available": len(os.sched_getaffinity(0)), "cpu_model": cpu_model,
            "ram_bytes": ram, "ram_GiB": round(ram / GiB, 1), "kernel": platform.release(),
            "machine": platform.machine()}


def versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("genolake", "cyvcf2", "pyarrow", "deltalake", "duckdb", "numpy", "psutil"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    lines = _run_text(["bcftools", "--version"]).splitlines()
    out["bcftools"] = lines[0].split()[-1] if lines else None
    out["htslib"] = next((l.split()[2] for l in lines if l.startswith("Using htslib")), None)
    return out


def git_state() -> dict:
    repo = Path(__file__).resolve().parents[1]
    commit = _run_text(["git", "-C", str(repo), "rev-parse", "HEAD"])
    try:
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True,
                                text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        status = ""
    lines = [l for l in status.splitlines() if len(l) > 3]
    return {"commit": commit or None,
            "modified_files": [l[3:] for l in lines if not l.startswith("??")],
            "untracked_files": [l[3:] for l in lines if l.startswith("??")]}


# ---------------------------------------------------------------- timings

def spread(xs: list[float]) -> dict:
    xs = sorted(xs)
    if not xs:
        return {}
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return {"median_s": statistics.median(xs), "p25_s": q[0], "p75_s": q[2], "min_s": xs[0], "max_s": xs[-1],
            "n": len(xs), "runs_s": xs}


def vmhwm() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_vmhwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
