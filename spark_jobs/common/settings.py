"""One settings object for every component, read from the environment.

Everything that differs between a laptop, CI and a cluster (paths, URIs, ports, Spark resources) lives here,
so DAGs, Spark jobs, loaders and tests never carry their own constants. Variables are prefixed ``SMARTMETER_``
except the few that the ecosystem already names (``MONGO_URI``, ``SPARK_MASTER_URL``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTMETER_", extra="ignore")

    # Folders. The state folder holds everything a run produces locally (git-ignored).
    repo_root: Path = REPO_ROOT
    state_dir: Path = REPO_ROOT / ".state"
    reference_dir: Path = Field(
        default=REPO_ROOT.parent / "shared" / "data",
        description="Real reference files: tariff schedule, household information, weather, sample household.",
    )
    landing_dir: Path | None = Field(default=None, description="Where LCL-layout CSV files arrive.")
    lake_dir: Path | None = Field(default=None, description="Parquet datasets, one folder per dataset.")
    models_dir: Path | None = None

    # Services.
    mongo_uri: str | None = Field(
        default=None,
        description="Defaults to the embedded FerretDB on 127.0.0.1:<mongo_port>.",
        validation_alias=AliasChoices("MONGO_URI", "SMARTMETER_MONGO_URI"),
    )
    mongo_db: str = "smartmeter"
    mongo_load_workers: int = Field(
        2,
        description="Concurrent insert_many batches of the pipeline's load into the serving store: the load runs"
        " after every Spark stage, so both cores are free for the server (bench/bench_load.py: FerretDB 10.0k ->"
        " 11.1k documents/s with two).",
    )
    spark_master_url: str | None = Field(
        default=None,
        description="Defaults to the embedded standalone master on 127.0.0.1:<spark_master_port>.",
        validation_alias=AliasChoices("SPARK_MASTER_URL", "SMARTMETER_SPARK_MASTER_URL"),
    )
    spark_conn_id: str = "spark_local"

    # Ports of the embedded stack.
    airflow_port: int = 8080
    spark_master_port: int = 7077
    spark_master_ui_port: int = 8090
    spark_worker_ui_port: int = 8091
    mongo_port: int = 27017
    ferretdb_debug_port: int = Field(8089, description="FerretDB's metrics and debug handler (/debug/metrics)")
    superset_port: int = 8088
    superset_url: str | None = Field(
        default=None,
        description="The Superset whose chart-data cache the dashboards DAG refreshes after each load; defaults"
        " to the embedded one on 127.0.0.1:<superset_port>. Empty string: no refresh.",
    )
    superset_home: Path | None = Field(
        default=None, description="That Superset's state folder (its recorded dashboard requests live there)."
    )

    # Spark resources, sized for 2 cores / 24 GiB.
    spark_worker_cores: int = 2
    spark_worker_memory: str = Field("12g", description="Room for two executors: spark_pool_slots applications")
    spark_driver_memory: str = "2g"
    spark_executor_memory: str = "5g"
    spark_driver_java_options: str = Field(
        "-XX:TieredStopAtLevel=1",
        description="JVM options of each stage's driver. The client-mode driver plans queries and moves Arrow"
        " batches to Python; its C2 JIT compiler alone burnt ~8 of a trivial application's 26-32 CPU-seconds"
        " here (bench: C1 only, 19-21 CPU-s, 12-13 s wall instead of 15-19).",
    )
    spark_day_executor_java_options: str = Field(
        "-XX:TieredStopAtLevel=1",
        description="JVM options of the executors of the daily DAG's stages, which process one day in 20-50 s:"
        " there C2 compilation costs more than it saves (C1 only, measured on a 5,566-household day: aggregate"
        " 45 -> 32 CPU-s, anomalies 52 -> 39, tariffs 35 -> 25); and of stages whose tasks run in the executors'"
        " Python workers (the ingest), whose executor JVMs only pass closures and results (50M rows: executor"
        " JVM 6.0-6.3 -> 2.8-2.9 CPU-s, 28 -> 25.4-27.4 s wall). Longer Spark SQL applications (history"
        " aggregates, retrain) keep the full JIT.",
    )
    spark_class_archive_dir: Path | None = Field(
        default=None,
        description="Class-data-sharing archives of the driver and executor JVMs (driver.jsa, executor.jsa), built"
        " by scripts/stack.sh when it starts Spark; mapped into every stage when present. Default <state>/spark/cds.",
    )
    spark_shuffle_partitions: int = 8
    spark_pool_slots: int = Field(
        2,
        description="Spark applications at once (Airflow pool spark_cluster). Two on the embedded 2-core worker: a"
        " forecast's driver fits scikit-learn while its executor idles, and every application spends seconds"
        " starting up, so a second one fills the gaps.",
    )
    spark_branch_cores: int = Field(
        1,
        description="Executor cores of the stages that run beside each other after the features (forecast,"
        " anomalies, tariffs, neighbours, segments); the chain before them (ingest, aggregate, features) gets all.",
    )

    forecast_fit_processes: int = Field(
        3,
        description="Worker processes fitting a model's three quantile regressors side by side (1: one after the"
        " other in the calling process). Independent fits use both cores where one fit's OpenMP threads could"
        " not; three (one per quantile) finish in 1.5 rounds on 2 cores instead of 2 (backtest fits 170 -> 154 s).",
    )
    forecast_predict_threads: int = Field(
        2,
        description="OpenMP threads of scikit-learn's HistGradientBoosting predictions (rows split across threads;"
        " 1.5x faster on 2 cores, also under load, with OMP_WAIT_POLICY=PASSIVE). Fitting keeps one thread.",
    )

    # Domain parameters.
    local_timezone: str = "Europe/London"
    max_halfhour_kwh: float = Field(
        default=10.0,
        description="Readings above this are implausible for a household (a 100 A supply at 230 V is 11.5 kWh/hh).",
    )

    # Analytics jobs (anomalies, segments, tariffs, neighbours).
    analytics_seed: int = 42
    flat_tariff_pence_per_kwh: float = 14.228
    dtou_prices_pence_per_kwh: dict[str, float] = {"High": 67.20, "Normal": 11.76, "Low": 3.99}
    tariff_shift_share: float = Field(default=0.2, description="Share of High-price kWh moved to Normal/Low slots.")
    analytics_min_complete_days: int = Field(default=28, description="Fewer complete days: no segment.")

    def model_post_init(self, __context: object) -> None:
        if self.landing_dir is None:
            self.landing_dir = self.state_dir / "landing"
        if self.lake_dir is None:
            self.lake_dir = self.state_dir / "lake"
        if self.models_dir is None:
            self.models_dir = self.state_dir / "models"
        if self.mongo_uri is None:
            self.mongo_uri = f"mongodb://127.0.0.1:{self.mongo_port}/"
        if self.spark_master_url is None:
            self.spark_master_url = f"spark://127.0.0.1:{self.spark_master_port}"
        if self.superset_url is None:
            self.superset_url = f"http://127.0.0.1:{self.superset_port}"
        if self.superset_home is None:
            self.superset_home = self.state_dir / "superset"
        if self.spark_class_archive_dir is None:
            self.spark_class_archive_dir = self.state_dir / "spark" / "cds"

    def spark_java_options(self, day_sized: bool = False, python_tasks: bool = False) -> dict[str, str]:
        """``spark.driver.extraJavaOptions`` / ``spark.executor.extraJavaOptions`` of a stage: the JIT settings
        (the executors' only for ``day_sized`` or ``python_tasks`` stages) plus, where scripts/stack.sh built them,
        the class archives (a JVM given a missing archive would run without even the JDK's own, so the option is
        only added for files that exist)."""
        driver = [self.spark_driver_java_options]
        executor = [self.spark_day_executor_java_options if day_sized or python_tasks else ""]
        for role, opts in (("driver", driver), ("executor", executor)):
            archive = self.spark_class_archive_dir / f"{role}.jsa"
            if archive.is_file():
                opts.append(f"-XX:SharedArchiveFile={archive}")
        return {
            "spark.driver.extraJavaOptions": " ".join(o for o in driver if o),
            "spark.executor.extraJavaOptions": " ".join(o for o in executor if o),
        }

    def dataset_path(self, name: str) -> Path:
        """Folder of one Parquet dataset, e.g. ``readings_halfhourly``."""
        return self.lake_dir / name

    @property
    def household_information_csv(self) -> Path:
        return self.reference_dir / "household_information.csv"

    @property
    def tariff_csv(self) -> Path:
        return self.reference_dir / "dtou_tariff_2013.csv"

    @property
    def weather_csv(self) -> Path:
        return self.reference_dir / "weather_hourly_darksky.csv"

    @property
    def sample_dir(self) -> Path:
        return self.reference_dir / "lcl_sample"

    def missing_reference_files(self) -> list[Path]:
        """The real reference files (read by the generator, the ingest, the features and the tariffs) that are not
        where ``reference_dir`` says; checked up front so a misplaced checkout fails once, naming the paths."""
        wanted = [self.household_information_csv, self.tariff_csv, self.weather_csv, self.sample_dir]
        return [p for p in wanted if not p.exists()]

    def reference_data_problem(self) -> str | None:
        """The one message the test session and the demo stop with when reference files are missing (else None)."""
        missing = self.missing_reference_files()
        if not missing:
            return None
        return (
            "reference data missing: " + ", ".join(map(str, missing)) + " - clone the repo beside shared/"
            " or set SMARTMETER_REFERENCE_DIR to the folder holding household_information.csv"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests that change the environment call ``get_settings.cache_clear()``."""
    return Settings()


def _shell_exports(settings: Settings) -> str:
    """``export`` lines for the shell scripts that start the embedded stack, so ports and paths have one source."""
    values = {
        "SM_STATE_DIR": settings.state_dir,
        "SM_LANDING_DIR": settings.landing_dir,
        "SM_LAKE_DIR": settings.lake_dir,
        "SM_MODELS_DIR": settings.models_dir,
        "SM_REFERENCE_DIR": settings.reference_dir,
        "SM_MONGO_URI": settings.mongo_uri,
        "SM_MONGO_DB": settings.mongo_db,
        "SM_SPARK_MASTER_URL": settings.spark_master_url,
        "SM_AIRFLOW_PORT": settings.airflow_port,
        "SM_SPARK_MASTER_PORT": settings.spark_master_port,
        "SM_SPARK_MASTER_UI_PORT": settings.spark_master_ui_port,
        "SM_SPARK_WORKER_UI_PORT": settings.spark_worker_ui_port,
        "SM_MONGO_PORT": settings.mongo_port,
        "SM_FERRETDB_DEBUG_PORT": settings.ferretdb_debug_port,
        "SM_SUPERSET_PORT": settings.superset_port,
        "SM_SPARK_WORKER_CORES": settings.spark_worker_cores,
        "SM_SPARK_WORKER_MEMORY": settings.spark_worker_memory,
        "SM_SPARK_POOL_SLOTS": settings.spark_pool_slots,
        "SM_SPARK_DRIVER_JAVA_OPTIONS": settings.spark_driver_java_options,
        "SM_SPARK_CLASS_ARCHIVE_DIR": settings.spark_class_archive_dir,
    }
    return "\n".join(f"export {key}='{value}'" for key, value in values.items())


if __name__ == "__main__":
    print(_shell_exports(get_settings()))
