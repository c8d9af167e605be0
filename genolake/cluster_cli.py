"""`genolake cluster start|status|stop`: a Spark standalone master and workers on 127.0.0.1.

cli.py calls `add_cluster_parser(subparsers)`. The work is in genolake.etl.spark_cluster; errors are
GenolakeErrors that cli.main prints as one line.
"""

from __future__ import annotations

import argparse
import json

from genolake.etl import spark_cluster
from genolake.lake.errors import NotFoundError

_EPILOG = f"""state: cluster.json, logs/ and the workers' work/ under --state-dir
(default: ${spark_cluster.STATE_DIR_ENV} or ~/.genolake/cluster).
example:
  genolake cluster start --workers 1 --cores 2 --memory 4g   # prints --master spark://127.0.0.1:PORT
  genolake cluster status
  genolake cluster stop"""


def add_cluster_parser(sub) -> None:
    """Add `cluster` with its `start`, `status` and `stop` subcommands to the top-level subparsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    c = sub.add_parser("cluster", help="a local Spark standalone cluster (master + workers on 127.0.0.1)",
                       description="Start, inspect or stop a Spark standalone cluster on 127.0.0.1.",
                       epilog=_EPILOG, formatter_class=fmt)
    cs = c.add_subparsers(dest="cluster_action", required=True, metavar="ACTION")

    state = argparse.ArgumentParser(add_help=False)
    state.add_argument("--state-dir", help=f"where the cluster's state and logs live "
                       f"(default: ${spark_cluster.STATE_DIR_ENV} or ~/.genolake/cluster)")

    start = cs.add_parser("start", parents=[state], help="start a master and workers; returns when they are ready")
    start.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    start.add_argument("--cores", type=int, default=1, help="cores each worker offers (default 1)")
    start.add_argument("--memory", default="2g", help="memory each worker offers, e.g. 512m, 2g (default 2g)")
    start.add_argument("--port", type=int, help="master port (default: a free one)")
    start.add_argument("--webui-port", type=int, help="master web UI port (default: a free one)")
    start.add_argument("--timeout", type=float, default=60, help="seconds to wait for the workers (default 60)")
    start.set_defaults(func=cmd_cluster_start)

    status = cs.add_parser("status", parents=[state], help="the master, its alive workers and applications")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=cmd_cluster_status)

    stop = cs.add_parser("stop", parents=[state], help="stop the master and workers (safe when none runs)")
    stop.set_defaults(func=cmd_cluster_stop)


def _state_dir(args):
    return args.state_dir or spark_cluster.default_state_dir()


def cmd_cluster_start(args):
    info = spark_cluster.start_cluster(_state_dir(args), workers=args.workers, cores=args.cores, memory=args.memory,
                                       master_port=args.port, webui_port=args.webui_port, timeout=args.timeout)
    print(f"Spark cluster ready: {len(info.workers)} worker(s) x {info.cores} core(s), {info.memory} each")
    print(f"  use:    --master {info.master_url}")
    print(f"  web UI: {info.master_webui_url}")
    print(f"  logs:   {info.state_dir}/logs   (stop it: genolake cluster stop"
          f"{'' if args.state_dir is None else ' --state-dir ' + str(args.state_dir)})")


def cmd_cluster_status(args):
    state_dir = _state_dir(args)
    status = spark_cluster.cluster_status(state_dir)
    if status is None:
        raise NotFoundError(f"no Spark cluster recorded in {state_dir}; start one with `genolake cluster start`")
    if args.json:
        print(json.dumps(status, indent=2))
        return 0 if status["state"] == "running" else 5
    if status["state"] == "stale":
        print(f"stale: the cluster recorded in {state_dir} is gone (pids {', '.join(map(str, status['dead_pids']))} "
              "not running); `genolake cluster stop` clears it")
        return 5
    if status["state"] == "unreachable":
        print(f"unreachable: the master (pids {', '.join(map(str, status['live_pids']))}) runs but "
              f"{status['master_webui_url']} does not answer; see {status['logs'][0]}")
        return 5
    print(f"running: {status['master_url']}   web UI {status['master_webui_url']}")
    if status["dead_pids"]:
        print(f"  not running: pids {', '.join(map(str, status['dead_pids']))}")
    print(f"  workers alive: {len(status['workers'])}")
    for w in status["workers"]:
        print(f"    {w['id']}  cores {w['cores_used']}/{w['cores']} used  memory {w['memory_used_mb']}/"
              f"{w['memory_mb']} MB used  {w['webui']}")
    for label, key in (("running", "running_apps"), ("completed", "completed_apps")):
        print(f"  applications {label}: {len(status[key])}")
        for a in status[key][-10:]:  # the most recent; --json has them all
            print(f"    {a['id']}  {a['name']}  {a['state']}")
    return 0


def cmd_cluster_stop(args):
    state_dir = _state_dir(args)
    info = spark_cluster.stop_cluster(state_dir)
    if info is None:
        print(f"no Spark cluster recorded in {state_dir}; nothing to stop")
    else:
        print(f"stopped the Spark cluster {info.master_url} (master and {len(info.workers)} worker(s))")
