"""Benchmark of the analytics jobs (issue 7): wall time and peak RSS of each job on generated data.

    python bench/bench_analytics.py [--sizes 5566] [--target-households 5566] [--master auto|local[2]|spark://...]

Data: spark_jobs.generate (LCL layout, injected anomalies) for 2 years, ingested with spark_jobs.ingest and
aggregated into a bench lake (untimed preparation, reused when present). Each job is then submitted like the DAGs
submit it: ``spark-submit spark_jobs/<job>.py`` to the standalone master (when it is up with free cores) with the
settings' driver and executor memory, else run as ``python -m`` on local[2] with a 6 GiB driver. Peak RSS is sampled
over the driver's process tree plus any executor JVMs started during the job.

With one size equal to the target the figures are measured, not extrapolated (the full 5,566 households x 2 years
is ~195 M readings, ~40 min of preparation here). With several smaller sizes the time is extrapolated to
``--target-households`` with a least-squares line t = a + b x households (fixed start-up cost plus per-household
work). The result JSON says which figures are measured and which are extrapolated, and the machine load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_ingest import choose_master, executor_processes  # noqa: E402  (bench/ is the script's folder, so on sys.path)

from spark_jobs.common.settings import get_settings  # noqa: E402

RESULTS = REPO / "bench" / "results" / "analytics.json"
TARGET_SECONDS = 180
QUIET_CORES = 2  # CPU seconds / 2 = wall time on the 2 cores alone (an optimistic bound: assumes both busy)


def fit_line(xs: list[int], ys: list[float]) -> tuple[float, float]:
    """Least-squares t = a + b x (b >= 0); one point: through the origin."""
    if len(xs) < 2:
        return 0.0, ys[0] / xs[0]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = max(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs), 0.0)
    return my - b * mx, b


def run_tree(cmd: list[str], env: dict[str, str], log: Path) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds and peak RSS (MiB) of the whole process tree, sampled every 0.2 s.

    CPU seconds (user + system of every process of the tree, last sample of each) are reported because the shared
    machine is often far oversubscribed: wall time then measures the neighbours as much as the job."""
    t0 = time.perf_counter()
    since = time.time() - 1
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        peak = 0
        cpu: dict[int, float] = {}
        executors: list[psutil.Process] = []
        polls = 0
        while proc.poll() is None:
            try:
                if polls % 10 == 0:
                    executors = executor_processes(since)
                polls += 1
                procs = [root, *root.children(recursive=True), *executors]
                rss = 0
                for p in procs:
                    with contextlib.suppress(psutil.Error):
                        rss += p.memory_info().rss
                        t = p.cpu_times()
                        cpu[p.pid] = t.user + t.system
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.2)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(sum(cpu.values()), 1),
        "peak_rss_mib": round(peak / 2**20, 1),
    }


def spark_cmd(master: str, module: str, args: list[str]) -> list[str]:
    """How a stage is started: submitted to the standalone master as the DAGs do (plugins/spark.py), or on
    local[2] as a plain Python process with a 6 GiB driver (the driver JVM is the executor there)."""
    if not master.startswith("spark://"):
        return [sys.executable, "-m", f"spark_jobs.{module}", *args]
    from plugins.spark import submit_conf

    s = get_settings()
    conf = [arg for key, value in submit_conf(s).items() for arg in ("--conf", f"{key}={value}")]
    submit = str(Path(sys.executable).parent / "spark-submit")
    return [
        submit, "--master", master, "--name", f"bench-{module}",
        "--driver-memory", s.spark_driver_memory, "--executor-memory", s.spark_executor_memory,
        *conf, str(REPO / "spark_jobs" / f"{module}.py"), *args,
    ]  # fmt: skip


def jobs(master: str, lake: Path, start: str, end: str) -> dict[str, list[str]]:
    window = ["--lake", str(lake), "--from-date", start, "--to-date", end]
    return {
        "anomalies": spark_cmd(master, "anomalies", ["--lake", str(lake), "--detectors", "robust,kmeans"]),
        "segments": spark_cmd(master, "segments", ["--lake", str(lake), "--train-from", start, "--train-to", end]),
        "tariffs": spark_cmd(master, "tariffs", window),
        "neighbours": spark_cmd(master, "neighbours", window),
    }


def prepare(
    master: str, work: Path, households: int, start: str, end: str, env: dict[str, str], seed: int
) -> tuple[Path, dict]:
    """Generate, ingest and aggregate one size (reused when already there)."""
    land, lake = work / f"land_{households}", work / f"lake_{households}"
    facts = {}
    if not (lake / "readings_halfhourly").is_dir():
        shutil.rmtree(land, ignore_errors=True)
        shutil.rmtree(lake, ignore_errors=True)
        gen = [sys.executable, "-m", "spark_jobs.generate", "--out", str(land), "--households", str(households)]
        gen += ["--start", start, "--end", end, "--seed", str(seed), "--truth", str(work / f"truth_{households}.csv")]
        facts["generate"] = run_tree(gen + ["--overwrite"], env, work / f"generate_{households}.log")
        ing = spark_cmd(master, "ingest", ["--input", str(land), "--lake", str(lake)])
        facts["ingest"] = run_tree(ing, env, work / f"ingest_{households}.log")
    if not (lake / "household_daily_halfhours").is_dir():  # the jobs read the aggregate's outputs
        agg = spark_cmd(master, "aggregate", ["--lake", str(lake)])
        facts["aggregate"] = run_tree(agg, env, work / f"aggregate_{households}.log")
    return lake, facts


def extrapolate(measured: dict[str, dict[int, dict]], target: int) -> dict:
    """Per job: the measurements, wall and CPU lines fitted over households, and the figures at ``target``."""
    jobs_out = {}
    for name, by_size in measured.items():
        xs = sorted(by_size)
        a, b = fit_line(xs, [by_size[x]["seconds"] for x in xs])
        ca, cb = fit_line(xs, [by_size[x]["cpu_seconds"] for x in xs])
        est, cpu_est = a + b * target, ca + cb * target
        quiet = cpu_est / QUIET_CORES
        jobs_out[name] = {
            "measured": {str(k): by_size[k] for k in xs},
            "extrapolated_wall_seconds_at_target": round(est, 1),
            "extrapolated_cpu_seconds_at_target": round(cpu_est, 1),
            "estimated_wall_seconds_quiet_2_cores": round(quiet, 1),
            "wall_fit": {"fixed_seconds": round(a, 1), "seconds_per_household": round(b, 4)},
            "cpu_fit": {"fixed_seconds": round(ca, 1), "seconds_per_household": round(cb, 4)},
            "peak_rss_mib_largest_run": by_size[max(xs)]["peak_rss_mib"],
            "meets_3_min_target_measured_wall": est <= TARGET_SECONDS,
            "meets_3_min_target_quiet_estimate": quiet <= TARGET_SECONDS,
        }
        how = "measured" if xs == [target] else "extrapolated"
        print(
            f"{name:12s} at {target} households: wall {est:8.1f} s ({how}), "
            f"cpu {cpu_est:8.1f} s -> ~{quiet:6.1f} s on 2 quiet cores (target {TARGET_SECONDS} s), "
            f"peak RSS {by_size[max(xs)]['peak_rss_mib']:.0f} MiB at {max(xs)} households"
        )
    return jobs_out


def attach_evaluation(out: dict, path: Path | None) -> None:
    """Embed an ``evaluate_anomalies --output`` JSON, so speed and quality figures travel together."""
    if path is not None and path.exists():
        out["anomaly_evaluation"] = json.loads(path.read_text())


def recompute(path: Path, target: int, evaluation: Path | None) -> int:
    """Refit the extrapolation of an existing results file (no jobs are run)."""
    out = json.loads(path.read_text())
    measured = {n: {int(k): v for k, v in j["measured"].items()} for n, j in out["jobs"].items()}
    out["jobs"] = extrapolate(measured, target)
    out["target_households"] = target
    attach_evaluation(out, evaluation)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"rewrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5566", help="households per measured run, comma separated")
    ap.add_argument("--master", default="auto", help="auto: the standalone master when up with free cores")
    ap.add_argument("--target-households", type=int, default=5566)
    ap.add_argument("--start", default="2012-01-01")
    ap.add_argument("--end", default="2013-12-31")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work-dir", type=Path, default=REPO / ".state" / "bench_analytics")
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--evaluation", type=Path, default=None, help="evaluate_anomalies JSON to embed")
    ap.add_argument("--recompute", action="store_true", help="refit --output's measurements only, run nothing")
    ap.add_argument("--jobs", default=None, help="comma list: rerun only these jobs, keep --output's other figures")
    args = ap.parse_args(argv)
    if args.recompute:
        return recompute(args.output, args.target_households, args.evaluation)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": str(REPO)}
    master, why = choose_master(args.master)
    if not master.startswith("spark://"):
        env["PYSPARK_SUBMIT_ARGS"] = f"--master {master} --driver-memory 6g pyspark-shell"
    print(f"master {master} ({why})", flush=True)

    measured: dict[str, dict[int, dict]] = {}
    data: dict[int, dict] = {}
    load_before = os.getloadavg()
    for n in sizes:
        lake, facts = prepare(master, args.work_dir, n, args.start, args.end, env, args.seed)
        data[n] = facts
        for name, cmd in jobs(master, lake, args.start, args.end).items():
            if args.jobs and name not in args.jobs.split(","):
                continue
            res = run_tree(cmd, env, args.work_dir / f"{name}_{n}.log")
            measured.setdefault(name, {})[n] = res
            print(
                f"{name:12s} households={n:5d} wall {res['seconds']:8.1f} s  cpu {res['cpu_seconds']:8.1f} s  "
                f"peak RSS {res['peak_rss_mib']:8.1f} MiB",
                flush=True,
            )

    out = {
        "machine": {"cpus": os.cpu_count(), "load_avg_before": load_before, "load_avg_after": os.getloadavg()},
        "spark_master": master,
        "spark_master_reason": why,
        "data": {"start": args.start, "end": args.end, "sizes": sizes, "prepare": data},
        "target_households": args.target_households,
        "method": (
            "measured at the sizes, extrapolated to the target with t = a + b x households (least squares), for wall "
            "and for CPU seconds of the process tree; quiet estimate = CPU seconds / 2 cores"
        ),
        "jobs": {},
    }
    if args.jobs and args.output.exists():  # keep the figures of the jobs not rerun, and of a preparation reused
        kept = json.loads(args.output.read_text())
        for name, job in kept["jobs"].items():
            if name not in measured:
                measured[name] = {int(k): v for k, v in job["measured"].items()}
        for n, facts in kept["data"]["prepare"].items():
            if not out["data"]["prepare"].get(int(n)):
                out["data"]["prepare"][int(n)] = facts
    out["jobs"] = extrapolate(measured, args.target_households)
    attach_evaluation(out, args.evaluation)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
