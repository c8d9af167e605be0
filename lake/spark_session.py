"""One Hail/Spark session per process, shared by the spark ETL engine and the spark query engine.

Hail owns the SparkContext (its jar, Kryo registrator and codecs must be set when the context is
made), so the session is always started through `hail.init`; Spark SQL uses the same context.
Logs go to a file, never to the user's terminal. `master` is `local[*]` by default or a
`spark://HOST:PORT` of a standalone cluster; asking for a different master than the running one is
an error rather than a silent reuse.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

INSTALL_HINT = "the spark engine needs the spark extra: pip install 'genolake[spark]' (and a Java 11+ runtime)"
DEFAULT_MASTER = "local[*]"
_LOCK = threading.Lock()


@dataclass(frozen=True)
class SparkOptions:
    master: str = DEFAULT_MASTER
    driver_memory: str = "4g"
    executor_memory: str | None = None  # on a cluster; local mode runs in the driver
    shuffle_partitions: int | None = None  # default: 2 x cores
    log_dir: Path | None = None  # default: a folder under the system temp dir


@dataclass
class _Session:
    options: SparkOptions
    spark: object  # pyspark.sql.SparkSession
    log_path: Path


_current: _Session | None = None


def spark_available() -> bool:
    try:
        import hail  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


def require_spark() -> None:
    """A one-line ConfigError naming the extra when Hail/pyspark are not installed."""
    if not spark_available():
        raise ConfigError(INSTALL_HINT)
    import shutil

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise ConfigError("the spark engine needs a Java runtime (11 or 17) on PATH or in JAVA_HOME")


def get_session(options: SparkOptions | None = None):
    """The process's SparkSession (started on first use). Same options -> same session."""
    global _current
    options = options or SparkOptions()
    with _LOCK:
        if _current is not None:
            if options.master != _current.options.master:
                raise ConfigError(f"a Spark session on {_current.options.master} is already running in this process; "
                                  f"stop it before using {options.master}")
            return _current.spark
        require_spark()
        _current = _start(options)
        return _current.spark


def session_log() -> Path | None:
    return _current.log_path if _current else None


def _start(options: SparkOptions) -> _Session:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # else Spark binds to the external interface
    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON") or _python())
    import hail as hl
    from pyspark.sql import SparkSession

    log_dir = Path(options.log_dir or Path(tempfile.gettempdir()) / "genolake-spark")
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"hail-{os.getpid()}.log"
    cores = os.cpu_count() or 2
    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(options.shuffle_partitions or 2 * cores),
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.sql.sources.partitionOverwriteMode": "static",
        # a Spark job's own files (_SUCCESS, .crc) are not wanted beside the data
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        "spark.hadoop.parquet.enable.summary-metadata": "false",
    }
    if options.executor_memory:
        conf["spark.executor.memory"] = options.executor_memory
    # the driver JVM's heap must be set before it starts
    os.environ["PYSPARK_SUBMIT_ARGS"] = f"--driver-memory {options.driver_memory} pyspark-shell"
    _quiet_java_logging(log_dir)
    import warnings

    with warnings.catch_warnings():  # "built and tested with Java 11": 17 is what runs here (README)
        warnings.filterwarnings("ignore", message=".*Java 11.*")
        _init_hail(hl, options, log_path, conf, log_dir)
    spark = SparkSession.builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return _Session(options, spark, log_path)


def _init_hail(hl, options: SparkOptions, log_path: Path, conf: dict, log_dir: Path) -> None:
    hl.init(master=options.master, app_name="genolake", quiet=True, log=str(log_path), spark_conf=conf,
            idempotent=True, local_tmpdir=str(log_dir / "tmp"), tmp_dir=str(log_dir / "tmp"))


def _python() -> str:
    import sys

    return sys.executable


def _quiet_java_logging(log_dir: Path) -> None:
    """Spark's log4j2 writes WARNs to stderr by default: send them to a file instead."""
    props = log_dir / "log4j2.properties"
    if not props.exists():
        props.write_text(
            "rootLogger.level = warn\nrootLogger.appenderRef.file.ref = file\n"
            "appender.file.type = File\nappender.file.name = file\n"
            f"appender.file.fileName = {log_dir / 'spark.log'}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n\n")
    os.environ.setdefault("SPARK_SUBMIT_OPTS", f"-Dlog4j2.configurationFile=file:{props}")


def stop_session() -> None:
    """Stop the JVM this process started (tests, `close()` of an engine that owns it)."""
    global _current
    with _LOCK:
        if _current is None:
            return
        import hail as hl

        try:
            hl.stop()
        finally:
            _current = None
