"""A real Spark standalone master and worker on 127.0.0.1: start, status, a job, stop, no JVM left.

The `cluster` fixture is module-scoped so other tests in this file can run jobs against it with
`--master cluster.master_url`. Jobs run in a subprocess: this test process never starts a Spark
session of its own (other tests own the one session per process). Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from genolake.etl.spark_cluster import (ClusterInfo, STATE_FILE, cluster_status, master_json, start_cluster,
                                        stop_cluster, worker_json)
from genolake.lake.errors import ConfigError, LakeStateError

JOB_TIMEOUT = 120  # seconds for the driver subprocess (JVM start, executor launch, the job)


def _poll(probe, timeout: float, interval: float = 0.25):
    """probe()'s first truthy value within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def _leftover_processes(info: ClusterInfo) -> list[str]:
    """Live processes that belong to the cluster: tagged with its id, naming its state dir, or a
    master/worker JVM on its master port."""
    marks = [info.cluster_id, info.state_dir]
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        line = " ".join(proc.info["cmdline"] or [])
        ours = any(m in line for m in marks) or (
            ("deploy.master.Master" in line or "deploy.worker.Worker" in line) and str(info.master_port) in line)
        if ours and proc.info["pid"] != os.getpid():
            found.append(f"{proc.info['pid']}: {line[:200]}")
    return found


def run_spark_job(master_url: str, code: str, timeout: float = JOB_TIMEOUT) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter where `spark` is a session on `master_url`; the last line it
    prints is the application id. For this file's tests (and later ones using the fixture)."""
    script = textwrap.dedent("""
        import sys
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master(sys.argv[1]).appName("genolake-cluster-test")
                 .config("spark.driver.host", "127.0.0.1").config("spark.executor.memory", "512m")
                 .config("spark.ui.enabled", "false").getOrCreate())
        try:
        {body}
            print(spark.sparkContext.applicationId, flush=True)
        finally:
            spark.stop()
        """).format(body=textwrap.indent(textwrap.dedent(code), "    "))
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    return subprocess.run([sys.executable, "-c", script, master_url], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A master and one worker (1 core, 2g: a Hail executor's 1g fits) for this module; stopped
    however the tests end, and then no JVM of it may be left."""
    state_dir = tmp_path_factory.mktemp("spark-cluster")
    info = None
    try:
        info = start_cluster(state_dir, workers=1, cores=1, memory="2g", timeout=60)
        yield info
    finally:
        stop_cluster(state_dir)
    assert info is None or _leftover_processes(info) == []


def test_status_lists_one_alive_worker(cluster):
    status = cluster_status(cluster.state_dir)
    assert status["state"] == "running"
    assert status["master_url"] == cluster.master_url == f"spark://127.0.0.1:{cluster.master_port}"
    assert status["dead_pids"] == []
    [worker] = status["workers"]
    assert worker["state"] == "ALIVE" and worker["cores"] == 1 and worker["memory_mb"] == 2048
    assert worker["webui"] == cluster.worker_webui_urls[0]
    recorded = json.loads((Path(cluster.state_dir) / STATE_FILE).read_text())
    assert recorded["master_pid"] == cluster.master_pid and recorded["master_url"] == cluster.master_url


def test_second_start_is_refused(cluster):
    with pytest.raises(LakeStateError, match="genolake cluster stop") as refused:
        start_cluster(cluster.state_dir, workers=1, cores=1, memory="2g", timeout=10)
    assert "\n" not in str(refused.value) and cluster.master_url in str(refused.value)
    assert cluster_status(cluster.state_dir)["state"] == "running"  # the running one is untouched


def test_job_runs_on_the_worker_and_completes(cluster):
    done = run_spark_job(cluster.master_url, "assert spark.range(1000).count() == 1000")
    assert done.returncode == 0, done.stderr[-3000:]
    app_id = done.stdout.split()[-1]
    assert app_id.startswith("app-")

    def completed():
        apps = (master_json(cluster) or {}).get("completedapps", [])
        return next((a for a in apps if a["id"] == app_id), None)

    app = _poll(completed, timeout=20)
    assert app is not None, f"{app_id} not among the master's completed applications"
    assert app["state"] == "FINISHED" and app["name"] == "genolake-cluster-test"

    def executor_on_our_worker():
        doc = worker_json(cluster.worker_webui_urls[0]) or {}
        return [e for e in doc.get("executors", []) + doc.get("finishedexecutors", []) if e["appid"] == app_id]

    assert _poll(executor_on_our_worker, timeout=20), f"no executor of {app_id} on {cluster.worker_webui_urls[0]}"
    assert (Path(cluster.state_dir) / "work" / app_id).is_dir()  # the executor ran in our work dir
    assert app_id in [a["id"] for a in cluster_status(cluster.state_dir)["completed_apps"]]


def test_stop_leaves_no_jvm(tmp_path):
    info = start_cluster(tmp_path / "c", workers=1, cores=1, memory="512m", timeout=60)
    try:
        assert len(_leftover_processes(info)) >= 2  # the check sees the master and the worker
    finally:
        stopped = stop_cluster(info.state_dir)
    assert stopped == info
    assert _leftover_processes(info) == []
    assert not (tmp_path / "c" / STATE_FILE).exists() and cluster_status(info.state_dir) is None
    assert stop_cluster(info.state_dir) is None  # nothing running: a no-op


def test_stale_state_is_reported_and_cleared(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / STATE_FILE).write_text(json.dumps({
        "cluster_id": "0" * 32, "state_dir": str(tmp_path), "master_pid": gone.pid, "master_port": 1,
        "webui_port": 2, "master_log": str(tmp_path / "master.log"), "workers": []}))
    status = cluster_status(tmp_path)
    assert status["state"] == "stale" and status["dead_pids"] == [gone.pid]
    assert stop_cluster(tmp_path) is not None and cluster_status(tmp_path) is None


def test_missing_java_is_one_config_error_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no java on PATH
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match="Java runtime") as err:
        start_cluster(tmp_path / "c")
    assert "\n" not in str(err.value) and not (tmp_path / "c").exists()


def test_missing_pyspark_names_the_extra(tmp_path):
    # a fresh interpreter where `import pyspark` finds nothing, as in a core-only install
    code = ("import sys; sys.modules['pyspark'] = None\n"
            "from genolake.etl.spark_cluster import start_cluster\n"
            "from genolake.lake.errors import ConfigError\n"
            "try:\n    start_cluster(sys.argv[1])\nexcept ConfigError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("pip install 'genolake[spark]'")


def test_spark_ingest_on_the_cluster_gives_the_local_tables(cluster, tmp_path, ingested):
    """`genolake ingest vcf --engine spark --master spark://…` in a real process: the work runs on the
    cluster's worker (an executor of the application there), the tables equal the local engine's,
    and the driver's JVM ends with the command."""
    from conftest import VCF_DIR
    from lake_checks import assert_same_view, reader_view
    import genolake

    vcf = VCF_DIR / "sample.vcf"
    root = tmp_path / "lake"
    genolake.init_lake(root)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    p = subprocess.Popen([sys.executable, "-m", "genolake", "--root", str(root), "ingest", "vcf", str(vcf),
                          "--dataset", "d", "--engine", "spark", "--master", cluster.master_url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    jvms = []
    try:
        out, err = p.communicate(timeout=JOB_TIMEOUT * 2)
    finally:
        if p.poll() is None:
            jvms = [c for c in psutil.Process(p.pid).children(recursive=True) if "java" in c.name()]
            p.kill()
            for j in jvms:
                j.kill()
    assert p.returncode == 0, err[-3000:]
    assert "ingested" in out and "Traceback" not in err

    def our_app():
        apps = (master_json(cluster) or {}).get("completedapps", [])
        return next((a for a in apps if a["name"] == "genolake"), None)

    app = _poll(our_app, timeout=20)
    assert app is not None, "the ingest's application is not among the master's completed ones"
    doc = _poll(lambda: worker_json(cluster.worker_webui_urls[0]), timeout=10) or {}
    assert [e for e in doc.get("executors", []) + doc.get("finishedexecutors", []) if e["appid"] == app["id"]], \
        "no executor of the ingest ran on the cluster's worker"
    assert_same_view(reader_view(genolake.open_lake(root)), reader_view(ingested(vcf, "local", workers=1)))
    assert genolake.open_lake(root).catalog.runs()[0].engine == "spark"


def test_query_suite_on_the_cluster(cluster):
    """The cross-engine suite (tests/test_engines_agree.py), one analysis of each kind, with the spark
    engine's session on this cluster: a pytest of its own, since this process's one Spark session
    is local. Its application must have run an executor on the cluster's worker."""
    def genolake_apps():
        return {a["id"] for a in (master_json(cluster) or {}).get("completedapps", []) if a["name"] == "genolake"}

    before = genolake_apps()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
           "GENOLAKE_TEST_SPARK_MASTER": cluster.master_url, "GENOLAKE_TEST_QUERY_ENGINES": "spark",
           "GENOLAKE_TEST_ONE_PER_KIND": "1"}
    tests = Path(__file__).parent
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(tests / "test_engines_agree.py"), "-k", "same_answer"],
                          capture_output=True, text=True, timeout=JOB_TIMEOUT * 4, env=env, cwd=tests.parent)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 7, summary  # one case of each of the 7 kinds
    new = _poll(lambda: genolake_apps() - before, timeout=20)
    assert new, "the suite's Spark application is not among the master's completed ones"
    doc = _poll(lambda: worker_json(cluster.worker_webui_urls[0]), timeout=10) or {}
    assert [e for e in doc.get("executors", []) + doc.get("finishedexecutors", []) if e["appid"] in new], \
        "no executor of the suite's application ran on the cluster's worker"
