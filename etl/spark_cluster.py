"""A Spark standalone cluster (one master, N workers) on 127.0.0.1, started from the pyspark wheel.

The wheel has `bin/spark-class` but no `sbin/start-*.sh`, so the master and workers are started
with `spark-class org.apache.spark.deploy.{master.Master,worker.Worker}` in the background, each in
its own session (process group), and stopped by signalling that group, which also takes the
executors a worker launched. What was started is recorded in `<state_dir>/cluster.json`; every process
carries the cluster's id (GENOLAKE_CLUSTER_ID in its environment, -Dgenolake.cluster.id on the JVM's
command line) so a recorded PID is only ever signalled while it is still ours (PIDs are reused). Readiness is the master's JSON endpoint listing the workers as ALIVE.

Jobs use it with `--master spark://127.0.0.1:<port>` (the `master_url`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from genolake.lake.errors import ConfigError, LakeStateError

HOST = "127.0.0.1"
STATE_DIR_ENV = "GENOLAKE_CLUSTER_DIR"
STATE_FILE = "cluster.json"
INSTALL_HINT = "a Spark cluster needs pyspark: pip install 'genolake[spark]'"
_ID_PROPERTY = "genolake.cluster.id"  # on the JVMs' command line, for `ps`
_ID_ENV = "GENOLAKE_CLUSTER_ID"  # in every process's environment, from before the JVM starts
_MASTER_CLASS = "org.apache.spark.deploy.master.Master"
_WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
_POLL_SECONDS = 0.25
_HTTP_TIMEOUT = 2.0
_CHILDREN: dict = {}  # pid -> Popen of the JVMs this interpreter started, so they can be reaped


@dataclass(frozen=True)
class WorkerProcess:
    pid: int
    webui_port: int
    log: str

    @property
    def webui_url(self) -> str:
        return f"http://{HOST}:{self.webui_port}"


@dataclass(frozen=True)
class ClusterInfo:
    """What `start_cluster` started; the same is stored in cluster.json."""

    cluster_id: str
    state_dir: str
    master_pid: int
    master_port: int
    webui_port: int
    master_log: str
    workers: tuple[WorkerProcess, ...] = field(default_factory=tuple)
    cores: int = 1
    memory: str = "2g"
    started_at: float = 0.0

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.master_port}"

    @property
    def master_webui_url(self) -> str:
        return f"http://{HOST}:{self.webui_port}"

    @property
    def worker_webui_urls(self) -> list[str]:
        return [w.webui_url for w in self.workers]

    @property
    def pids(self) -> list[int]:
        return [self.master_pid, *(w.pid for w in self.workers)]

    def to_json(self) -> dict:
        out = asdict(self)
        out["workers"] = [asdict(w) for w in self.workers]
        out["master_url"] = self.master_url
        out["master_webui_url"] = self.master_webui_url
        return out

    @classmethod
    def from_json(cls, data: dict) -> ClusterInfo:
        names = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["workers"] = tuple(WorkerProcess(**w) for w in data.get("workers", []))
        return cls(**kwargs)


def _resolve(state_dir) -> Path:
    # absolute, since the JVMs run with their log folder as working directory
    return (Path(state_dir) if state_dir is not None else default_state_dir()).expanduser().absolute()


def default_state_dir() -> Path:
    raw = os.environ.get(STATE_DIR_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".genolake" / "cluster"


# ---------------------------------------------------------------------------------------------
# prerequisites


def _spark_home() -> Path:
    try:
        spec = importlib.util.find_spec("pyspark")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise ConfigError(INSTALL_HINT)
    home = Path(spec.origin).parent
    if not (home / "bin" / "spark-class").is_file():
        raise ConfigError(f"pyspark at {home} has no bin/spark-class; reinstall it: pip install 'genolake[spark]'")
    return home


def _require_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return
    if shutil.which("java") is None:
        raise ConfigError("a Spark cluster needs a Java runtime (11 or 17): none on PATH or in JAVA_HOME")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _require_free(port: int, what: str) -> int:
    if not 0 < port < 65536:
        raise ConfigError(f"{what} {port} is not a TCP port (1-65535)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            raise ConfigError(f"{what} {port} on {HOST} is in use; choose another or leave it out") from None
    return port


def _check_memory(memory: str) -> str:
    text = str(memory).strip().lower()
    if not (text[:-1].isdigit() and text[-1] in "mgt" and int(text[:-1]) > 0):
        raise ConfigError(f"worker memory {memory!r} is not a size such as 512m or 2g")
    return text


# ---------------------------------------------------------------------------------------------
# processes (Linux /proc when present, so zombies count as gone and cmdlines can be checked)


def _proc_state(pid: int) -> str | None:
    """The one-letter state from /proc/<pid>/stat (R, S, Z, ...), None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)": state ppid pgrp ...
    return fields[0] if fields else None


def _alive(pid: int) -> bool:
    """Running (a zombie counts as gone: it holds no memory or ports, only an exit status)."""
    if Path("/proc/self").exists():
        return _proc_state(pid) not in (None, "Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_ours(pid: int, cluster_id: str) -> bool:
    """Alive and tagged with this cluster's id (not a reused PID). The environment carries the tag
    from the first moment (bash running spark-class) and is inherited by the JVM and its executors."""
    if not _alive(pid):
        return False
    if not Path("/proc/self").exists():
        return True
    tags = (f"{_ID_PROPERTY}={cluster_id}".encode(), f"{_ID_ENV}={cluster_id}".encode())
    for _ in range(20):  # both read empty for a moment while bash execs java
        try:
            text = Path(f"/proc/{pid}/cmdline").read_bytes() + b"\0" + Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return False
        if any(tag in text for tag in tags):
            return True
        if text != b"\0":
            return False
        time.sleep(0.05)
    return False


def _group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the process group `pgid`."""
    _reap(pgid)
    proc = Path("/proc")
    if not proc.exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (started in this interpreter)."""
    proc = _CHILDREN.get(pid)
    if proc is not None:
        proc.poll()
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _terminate_groups(pgids: list[int], timeout: float) -> list[int]:
    """SIGTERM each group, wait up to `timeout`, SIGKILL what is left; returns groups still alive."""
    for pgid in pgids:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_group_alive(g) for g in pgids):
        time.sleep(_POLL_SECONDS)
    survivors = [g for g in pgids if _group_alive(g)]
    for pgid in survivors:
        _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_group_alive(g) for g in survivors):
        time.sleep(_POLL_SECONDS)
    return [g for g in survivors if _group_alive(g)]


def _launch(spark_home: Path, args: list[str], log: Path, cluster_id: str) -> int:
    env = dict(os.environ)
    env["SPARK_HOME"] = str(spark_home)
    env["SPARK_LOCAL_IP"] = HOST  # else Spark binds to the external interface
    env[_ID_ENV] = cluster_id
    # spark-class adds SPARK_DAEMON_JAVA_OPTS to the master's and worker's JVM: the tag that makes
    # a recorded PID recognisably ours in `ps` too
    env["SPARK_DAEMON_JAVA_OPTS"] = f"{env.get('SPARK_DAEMON_JAVA_OPTS', '')} -D{_ID_PROPERTY}={cluster_id}".strip()
    with open(log, "wb") as out:  # a fresh log per start, so a failure names this run's reason
        proc = subprocess.Popen(["bash", str(spark_home / "bin" / "spark-class"), *args], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent,
                                start_new_session=True)
    _CHILDREN[proc.pid] = proc  # kept so the Popen is not collected (and warned about) while it runs
    return proc.pid


# ---------------------------------------------------------------------------------------------
# state file and the master's JSON


def _state_file(state_dir: Path) -> Path:
    return Path(state_dir) / STATE_FILE


def _read_info(state_dir: Path) -> ClusterInfo | None:
    path = _state_file(state_dir)
    if not path.exists():
        return None
    try:
        return ClusterInfo.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise LakeStateError(f"{path} is unreadable ({exc}); remove it after checking no Spark JVM from it "
                             "still runs") from None


def _write_info(info: ClusterInfo) -> None:
    path = _state_file(Path(info.state_dir))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n")
    tmp.replace(path)  # never a half-written state file


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/json/", timeout=_HTTP_TIMEOUT) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def master_json(info: ClusterInfo) -> dict | None:
    """The master's /json/ document (workers, active and completed apps), None when unreachable."""
    return _get_json(info.master_webui_url)


def worker_json(webui_url: str) -> dict | None:
    """A worker's /json/ document (its executors and finished executors), None when unreachable."""
    return _get_json(webui_url)


def _alive_workers(doc: dict | None) -> list[dict]:
    return [w for w in (doc or {}).get("workers", []) if w.get("state") == "ALIVE"]


def _last_error(log: str) -> str:
    """The last line of a log that looks like the reason a JVM failed, for a one-line message."""
    try:
        lines = Path(log).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if "Exception" in line or "ERROR" in line or "Error:" in line:
            return " ".join(line.split())[:200]
    return ""


# ---------------------------------------------------------------------------------------------
# the public functions


def start_cluster(state_dir: Path | None = None, workers: int = 1, cores: int = 1, memory: str = "2g",
                  master_port: int | None = None, webui_port: int | None = None,
                  timeout: float = 60) -> ClusterInfo:
    """Start a master and `workers` workers on 127.0.0.1; returns when all workers are ALIVE.

    On failure or timeout everything started is stopped again and a LakeStateError names the log."""
    state_dir = _resolve(state_dir)
    if workers < 1 or cores < 1:
        raise ConfigError(f"a cluster needs at least 1 worker with 1 core (got workers={workers}, cores={cores})")
    memory = _check_memory(memory)
    spark_home = _spark_home()
    _require_java()
    state_dir.mkdir(parents=True, exist_ok=True)
    previous = _read_info(state_dir)
    if previous is not None:
        live = [p for p in previous.pids if _is_ours(p, previous.cluster_id)]
        if live:
            raise LakeStateError(f"a Spark cluster already runs from {state_dir} ({previous.master_url}, pids "
                                 f"{', '.join(map(str, live))}); run `genolake cluster stop` first")
        _terminate_groups([p for p in previous.pids if _group_alive(p)], timeout=5)  # a stale one's leftovers
        _state_file(state_dir).unlink(missing_ok=True)

    master_port = _require_free(master_port, "master port") if master_port else _free_port()
    webui_port = _require_free(webui_port, "web UI port") if webui_port else _free_port()
    if master_port == webui_port:
        raise ConfigError(f"master port and web UI port are both {master_port}; they must differ")
    logs = state_dir / "logs"
    logs.mkdir(exist_ok=True)
    work_dir = state_dir / "work"
    work_dir.mkdir(exist_ok=True)
    cluster_id = uuid.uuid4().hex
    deadline = time.monotonic() + timeout

    master_log = logs / "master.log"
    master_pid = _launch(spark_home, [_MASTER_CLASS, "--host", HOST, "--port", str(master_port),
                                      "--webui-port", str(webui_port)], master_log, cluster_id)
    info = ClusterInfo(cluster_id=cluster_id, state_dir=str(state_dir), master_pid=master_pid,
                       master_port=master_port, webui_port=webui_port, master_log=str(master_log),
                       cores=cores, memory=memory, started_at=time.time())
    _write_info(info)  # recorded at once, so `cluster stop` can clean up even if this call is killed
    try:
        # workers start once the master answers: a worker that finds no master retries only every ~10 s
        _wait(lambda: (master_json(info) or {}).get("status") == "ALIVE", deadline, [(master_pid, master_log)],
              f"the Spark master did not come up within {timeout:g} s")
        started = []
        for i in range(workers):
            log = logs / f"worker-{i + 1}.log"
            port = _free_port()
            pid = _launch(spark_home, [_WORKER_CLASS, info.master_url, "--cores", str(cores), "--memory", memory,
                                       "--host", HOST, "--webui-port", str(port), "--work-dir", str(work_dir)],
                          log, cluster_id)
            started.append(WorkerProcess(pid=pid, webui_port=port, log=str(log)))
            info = replace(info, workers=tuple(started))
            _write_info(info)
        watched = [(master_pid, master_log), *((w.pid, Path(w.log)) for w in started)]
        _wait(lambda: len(_alive_workers(master_json(info))) >= workers, deadline, watched,
              f"{workers} Spark worker(s) did not register with the master within {timeout:g} s")
    except BaseException:
        stop_cluster(state_dir)
        raise
    return info


def _wait(ready, deadline: float, watched: list[tuple[int, Path]], message: str) -> None:
    while True:
        if ready():
            return
        for pid, log in watched:
            if not _alive(pid):
                _reap(pid)
                reason = _last_error(str(log))
                raise LakeStateError(f"a Spark JVM (pid {pid}) exited while starting: "
                                     f"{reason + ' ' if reason else ''}(log: {log})")
        if time.monotonic() >= deadline:
            raise LakeStateError(f"{message} (log: {watched[-1][1]})")
        time.sleep(_POLL_SECONDS)


def cluster_status(state_dir: Path | None = None) -> dict | None:
    """The recorded cluster and what its master reports; None when none is recorded.

    `state` is `running` (master up and answering), `unreachable` (its JVM runs but the web UI does
    not answer) or `stale` (the recorded processes are gone: `genolake cluster stop` clears it)."""
    state_dir = _resolve(state_dir)
    info = _read_info(state_dir)
    if info is None:
        return None
    live = [p for p in info.pids if _is_ours(p, info.cluster_id)]
    status = {
        "state_dir": str(state_dir), "master_url": info.master_url, "master_webui_url": info.master_webui_url,
        "worker_webui_urls": info.worker_webui_urls, "pids": info.pids, "live_pids": live,
        "dead_pids": [p for p in info.pids if p not in live], "workers": [], "running_apps": [],
        "completed_apps": [], "logs": [info.master_log, *(w.log for w in info.workers)],
    }
    if info.master_pid not in live:
        return {**status, "state": "stale"}
    doc = master_json(info)
    if doc is None:
        return {**status, "state": "unreachable"}
    status["workers"] = [{"id": w.get("id"), "webui": w.get("webuiaddress"), "cores": w.get("cores"),
                          "cores_used": w.get("coresused"), "memory_mb": w.get("memory"),
                          "memory_used_mb": w.get("memoryused"), "state": w.get("state")}
                         for w in _alive_workers(doc)]
    status["running_apps"] = [_app(a) for a in doc.get("activeapps", [])]
    status["completed_apps"] = [_app(a) for a in doc.get("completedapps", [])]
    return {**status, "state": "running"}


def _app(app: dict) -> dict:
    return {"id": app.get("id"), "name": app.get("name"), "cores": app.get("cores"), "state": app.get("state"),
            "user": app.get("user"), "duration_ms": app.get("duration")}


def stop_cluster(state_dir: Path | None = None, timeout: float = 20) -> ClusterInfo | None:
    """Stop the recorded master and workers (and the executors in their process groups), then remove
    cluster.json. Returns what was recorded, None when nothing was. Safe to call at any time."""
    state_dir = _resolve(state_dir)
    info = _read_info(state_dir)
    if info is None:
        return None
    # a group is signalled while its leader is still our JVM, or when the leader is gone but members
    # (e.g. an executor) remain; a leader PID reused by another program is left alone
    groups = [p for p in reversed(info.pids)  # workers first, so the master does not log them as lost
              if _is_ours(p, info.cluster_id) or (not _alive(p) and _group_alive(p))]
    survivors = _terminate_groups(groups, timeout)
    for pid in info.pids:
        _reap(pid)
        _CHILDREN.pop(pid, None)
    if survivors:
        raise LakeStateError(f"Spark process group(s) {', '.join(map(str, survivors))} survived SIGKILL; "
                             f"{_state_file(state_dir)} is kept")
    _state_file(state_dir).unlink(missing_ok=True)
    return info
