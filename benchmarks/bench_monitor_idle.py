"""An hourly `monitor` run with nothing new: how long its own work takes (target under 10 s).

Run: python benchmarks/bench_monitor_idle.py [--repeat 3]
Serves the bundled demo site on loopback, runs `monitor` once to fill a fresh database, then `--repeat`
more times with nothing new. The work time is what the flow records in `runs.duration_s` (from the
first line of the flow body to the last), so Prefect's own start-up and its temporary API are excluded;
the wall time of each run (a fresh `reviewdesk monitor` process, as a scheduled worker starts one), start-up
included, is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from flows.monitor import MonitorParams, monitor  # noqa: E402
from pipeline.store import Store  # noqa: E402
from reviewdesk.demo import demo_config_text, write_demo_playbooks  # noqa: E402
from reviewdesk.demo_site import DemoSite  # noqa: E402


def main() -> None:
    """Print the idle monitor's work time per run and the median."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, DemoSite() as site:
        data = Path(tmp) / "data"
        data.mkdir()
        config = data / "demo.toml"
        db = Path(tmp) / "db.duckdb"
        config.write_text(demo_config_text(site.url, db, data), encoding="utf-8")
        write_demo_playbooks(data)
        started = time.perf_counter()
        first = monitor(MonitorParams(config=config))
        print(f"first run (fills the database): {time.perf_counter() - started:.1f} s wall, "
              f"{first['counts']['collect']['new']} new reviews, {first['counts']['draft'].get('drafted')} drafts")
        works = []
        for _ in range(args.repeat):
            # A fresh process each time, as a scheduled worker runs it: nothing stays loaded between runs.
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "reviewdesk", "monitor", "--config", str(config)], cwd=ROOT,
                           check=True, capture_output=True)
            wall = time.perf_counter() - started
            with Store(db).transaction() as tx:
                run = tx.flow_runs("monitor", limit=1)[0]
            counts = {k: {kk: vv for kk, vv in v.items() if kk != "sources"}
                      for k, v in json.loads(run["counts"]).items()}
            assert counts["collect"]["new"] == 0 and counts["analyze"]["analysed"] == 0
            works.append(run["duration_s"])
            print(f"idle run: work {run['duration_s']:.2f} s, wall {wall:.2f} s (process and Prefect start-up "
                  f"included); {json.dumps(counts)}")
        print(f"median idle work: {statistics.median(works):.2f} s (target < 10 s) over {len(works)} runs, "
              f"{len(first['counts']['collect']['sources'])} sources")


if __name__ == "__main__":
    main()
