"""Registry of the MongoDB serving collections: one place for names, grain, natural keys, slices and indexes.

The dashboards engineer reads it for the query paths and field names, the DAG author for what to load how.
Collection names are the dataset names. Documents are copies of the Parquet rows with the same column names,
``*_utc`` as BSON datetimes (UTC), ``local_date`` as 'YYYY-MM-DD', ``month`` as 'YYYY-MM', other dates as
'YYYY-MM-DD' strings, plus ``_load_id`` (the committed slice load, see ``plugins.serving.loader``) and
``_loaded_at``. Units are in the column names (``*_kwh``, ``*_pence``, ``*_c``).

``key`` is the natural key of a row (unique once a load is committed). A collection with a ``bucket`` serves its
rows grouped (MongoDB's bucket pattern): one document per ``bucket.by`` key, every other column an array in
``bucket.order``, so the forecasts of a day are 5.6k documents instead of 267k (about a fifth of the insert time).
``doc_key`` is a document's key (``key``, or ``bucket.by``). The unique index is ``doc_key + _load_id`` because a
slice's new version is written beside the old one and only then made visible (no multi-document transactions
on FerretDB v1); ``partition`` is the slice a load replaces as a whole (None: the whole collection).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

# Bookkeeping collections of the loader (not datasets).
SERVING_LOADS = "serving_loads"  # one marker per (collection, slice): the committed load readers may trust
SERVING_MANIFESTS = "serving_manifests"  # per committed slice: natural key -> row hash, for upsert/modify counts
SERVING_COLLECTIONS = "serving_collections"  # what ensure_collections applied per collection (indexes, validator)

META_FIELDS = ("_load_id", "_loaded_at")

STRING = "string"
DATE = "date"  # BSON datetime
NUMBER = ("double", "int", "long", "decimal")
INT = ("int", "long")
BOOL = "bool"


@dataclass(frozen=True)
class Index:
    fields: tuple[str, ...]
    name: str
    unique: bool = False


@dataclass(frozen=True)
class Bucket:
    """One document per ``by`` key; the other columns become arrays of the same length, sorted by ``order``.

    ``by`` must include the collection's partition, so a bucket never spans two slices."""

    by: tuple[str, ...]
    order: str


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    grain: str
    key: tuple[str, ...]
    partition: str | None = None  # field whose values are the slices a load replaces; None = whole collection
    source: str = "parquet"  # parquet | csv | derived | api
    types: dict[str, Any] = field(default_factory=dict)  # bsonType per field, for the $jsonSchema validator
    indexes: tuple[Index, ...] = ()  # the dashboards' query paths (besides the natural key)
    loaded: bool = True  # documents carry _load_id/_loaded_at (False: written by upsert helpers)
    # column -> the values served; rows with other values stay in the Parquet dataset only
    serve_only: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bucket: Bucket | None = None  # rows grouped into one document per bucket.by key (see the module docstring)
    doc: str = ""

    @property
    def doc_key(self) -> tuple[str, ...]:
        """The key of a document: the natural key, or the bucket's key for a bucketed collection."""
        return self.bucket.by if self.bucket else self.key

    def arrays(self) -> tuple[str, ...]:
        """Fields that are arrays in the documents (the typed columns outside the bucket key)."""
        return tuple(f for f in self.types if f not in self.bucket.by) if self.bucket else ()

    @property
    def key_index(self) -> Index:
        fields = (*self.doc_key, "_load_id") if self.loaded else self.doc_key
        return Index(fields, "natural_key_unique", unique=True)

    def all_indexes(self) -> list[Index]:
        out = [self.key_index, *self.indexes]
        if self.loaded:
            out.append(Index(("_load_id",), "load_id"))
            if self.partition and not any(ix.fields[0] == self.partition for ix in out):
                out.append(Index((self.partition,), f"{self.partition}_slice"))
        return out

    def validator(self) -> dict[str, Any]:
        """$jsonSchema: key fields (and load metadata) required and typed; other fields typed when listed.

        Nullable fields accept null; additional fields are allowed so a producer adding a column does not break
        the load (the GX suites are the strict contract, the validator is a last line of defence)."""
        required = [*self.doc_key, *(META_FIELDS if self.loaded else ())]
        props: dict[str, Any] = {}
        arrays = self.arrays()
        for name, bson_type in self.types.items():
            types = list(bson_type) if isinstance(bson_type, tuple) else [bson_type]
            if name not in (*self.key, *self.doc_key):
                types.append("null")
            typed = {"bsonType": types if len(types) > 1 else types[0]}
            props[name] = {"bsonType": "array", "items": typed} if name in arrays else typed
        required += [a for a in arrays if a in self.key]
        if self.loaded:
            props["_load_id"] = {"bsonType": "string"}
            props["_loaded_at"] = {"bsonType": "date"}
        optional_key = {k for k in self.doc_key if k in OPTIONAL_KEY_FIELDS.get(self.name, ())}
        return {
            "$jsonSchema": {
                "bsonType": "object",
                "required": [r for r in required if r not in optional_key],
                "properties": props,
            }
        }


# Key fields that may be absent from a dataset (then null in the key): forecast_metrics has no model_version yet.
OPTIONAL_KEY_FIELDS: dict[str, tuple[str, ...]] = {"forecast_metrics": ("model_version",)}

_SPECS = [
    CollectionSpec(
        "households",
        "household (LCLid)",
        ("household_id",),
        source="csv",
        types={"household_id": STRING, "tariff_group": STRING, "acorn": STRING, "acorn_group": STRING},
        indexes=(Index(("acorn_group", "tariff_group"), "acorn_tariff"),),
        doc="From household_information.csv; acorn_group normalised like aggregate.py (unknown when not a group).",
    ),
    CollectionSpec(
        "household_daily",
        "household x local day (Europe/London)",
        ("household_id", "local_date"),
        partition="local_date",
        types={
            "household_id": STRING,
            "local_date": STRING,
            "tariff_group": STRING,
            "acorn_group": STRING,
            "energy_kwh": NUMBER,
            "readings_present": INT,
            "readings_expected": INT,
            "completeness": NUMBER,
        },
        indexes=(
            Index(("local_date", "acorn_group"), "date_acorn"),
            Index(("local_date", "tariff_group"), "date_tariff"),
        ),
    ),
    CollectionSpec(
        "group_halfhourly",
        "group (tariff | acorn | all) x half hour",
        ("group_kind", "group_name", "interval_start_utc"),
        partition="local_date",
        types={
            "group_kind": STRING,
            "group_name": STRING,
            "interval_start_utc": DATE,
            "halfhour_local": INT,
            "mean_energy_kwh": NUMBER,
            "total_energy_kwh": NUMBER,
            "households_reporting": INT,
            "local_date": STRING,
        },
        indexes=(Index(("local_date", "group_kind"), "date_kind"),),
    ),
    CollectionSpec(
        "forecasts",
        "series x model version x target local day; arrays over its target days or half hours (p10/p50/p90 kWh)",
        ("task", "series_id", "model", "model_version", "target_time_utc"),
        partition="local_date",
        bucket=Bucket(("task", "series_id", "model", "model_version", "local_date"), order="target_time_utc"),
        types={
            "task": STRING,
            "series_id": STRING,
            "model": STRING,
            "model_version": STRING,
            "target_time_utc": DATE,
            "p10_kwh": NUMBER,
            "p50_kwh": NUMBER,
            "p90_kwh": NUMBER,
            "actual_kwh": NUMBER,
            "local_date": STRING,
        },
        indexes=(
            Index(("series_id", "local_date"), "series_day"),
            Index(("local_date", "task", "model"), "date_task_model"),
        ),
        # Live forecasts serve the model only: the naive baselines' half-hourly forecasts for 5,566 households
        # are 800k documents a day that nothing reads (live accuracy needs actuals; the model-vs-baseline
        # comparison is served from the backtests). They stay in the lake's `forecasts`.
        serve_only={"model": ("hgb_quantile",)},
        doc="One document per series, model version and target local day: target_time_utc, p10_kwh, p50_kwh, "
        "p90_kwh and actual_kwh are arrays of one length in time order (48 values for a half-hourly series' day, "
        "46 or 50 on clock-change days, 1 for a daily series). Unwind them with $unwind/$zip or "
        "plugins.serving.loader.unbucket.",
    ),
    CollectionSpec(
        "forecast_metrics",
        "model x task x backtest fold (x model version)",
        ("model", "task", "fold", "model_version"),
        types={"model": STRING, "task": STRING, "fold": STRING, "mae_kwh": NUMBER, "rmse_kwh": NUMBER},
        indexes=(Index(("task", "fold"), "task_fold"),),
    ),
    CollectionSpec(
        "anomalies",
        "household x event (detector, kind)",
        ("household_id", "start_utc", "kind", "detector"),
        partition="local_date",
        types={
            "household_id": STRING,
            "start_utc": DATE,
            "end_utc": DATE,
            "kind": STRING,
            "detector": STRING,
            "severity": NUMBER,
            "severity_level": STRING,
            "local_date": STRING,
        },
        indexes=(
            Index(("local_date", "severity_level"), "date_severity"),
            Index(("household_id", "start_utc"), "household_time"),
        ),
    ),
    CollectionSpec(
        "anomaly_alerts_daily",
        "alert x local day it covers",
        ("household_id", "event_id", "local_date"),
        partition="local_date",
        types={"household_id": STRING, "event_id": STRING, "local_date": STRING, "day_rank": INT},
        indexes=(Index(("local_date", "day_rank"), "date_rank"),),
    ),
    CollectionSpec(
        "segments",
        "household x segmentation version",
        ("household_id", "segmentation_version"),
        partition="segmentation_version",
        types={"household_id": STRING, "segmentation_version": STRING, "status": STRING, "segment_id": INT},
        indexes=(Index(("segmentation_version", "segment_id"), "version_segment"),),
    ),
    CollectionSpec(
        "segment_profiles",
        "segment x local half hour (mean kWh, share of day)",
        ("segmentation_version", "segment_id", "halfhour_local"),
        partition="segmentation_version",
        types={"segmentation_version": STRING, "segment_id": INT, "halfhour_local": INT, "mean_kwh": NUMBER},
    ),
    CollectionSpec(
        "segment_summary",
        "segment x segmentation version",
        ("segmentation_version", "segment_id"),
        partition="segmentation_version",
        types={"segmentation_version": STRING, "segment_id": INT, "households": INT},
    ),
    CollectionSpec(
        "tariff_comparison_monthly",
        "household x local month (pence, kWh)",
        ("household_id", "month"),
        partition="month",
        types={
            "household_id": STRING,
            "month": STRING,
            "flat_cost_pence": NUMBER,
            "dtou_cost_pence": NUMBER,
            "saving_pence": NUMBER,
        },
        indexes=(Index(("month", "tariff_group"), "month_tariff"), Index(("month", "dtou_outcome"), "month_outcome")),
    ),
    CollectionSpec(
        "neighbour_comparison_monthly",
        "household x local month",
        ("household_id", "month"),
        partition="month",
        types={"household_id": STRING, "month": STRING, "status": STRING, "percentile": NUMBER},
        indexes=(Index(("month", "peer_group"), "month_peers"),),
    ),
    CollectionSpec(
        "ingest_accounting",
        "source file x ingest run",
        ("source_file", "run_id"),
        partition="run_id",
        types={"source_file": STRING, "run_id": STRING, "status": STRING, "rows_read": INT},
        indexes=(Index(("run_id",), "run"),),
    ),
    CollectionSpec(
        "readings_rejected_summary",
        "source file x rejection reason (count of lines)",
        ("source_file", "reason"),
        source="derived",
        types={"source_file": STRING, "reason": STRING, "rejected_lines": INT},
        doc="Counted from the readings_rejected Parquet dataset (which holds the raw lines).",
    ),
    CollectionSpec(
        "dq_results",
        "GX suite x run",
        ("suite", "run_id"),
        source="api",
        loaded=False,
        types={"suite": STRING, "run_id": STRING, "dag_id": STRING, "success": BOOL},
        indexes=(Index(("validated_at",), "validated_at"), Index(("success", "suite"), "success_suite")),
        doc="success, expectation counts, failed expectations with samples, the full GX result when small.",
    ),
    CollectionSpec(
        "pipeline_runs",
        "DAG run",
        ("dag_id", "run_id"),
        source="api",
        loaded=False,
        types={"dag_id": STRING, "run_id": STRING},
        indexes=(Index(("data_interval_start",), "interval_start"), Index(("status",), "status")),
        doc="data interval, status, per-task state/duration (tasks.<id>), row counts per stage (row_counts.<stage>).",
    ),
]

# Backtest forecasts (history DAG): the forecasts' grain and keys, ``actual_kwh`` filled; kept apart so the
# dashboards never mix out-of-sample backtests with the live day-ahead forecasts.
_SPECS.append(
    replace(
        next(s for s in _SPECS if s.name == "forecasts"),
        name="forecasts_backtest",
        grain="series x model version x backtest target local day; arrays over its target days or half hours "
        "(p10/p50/p90 and actual kWh)",
        serve_only={},  # every model, baselines included: the accuracy dashboards compare them
    )
)

REGISTRY: dict[str, CollectionSpec] = {s.name: s for s in _SPECS}


def spec(name: str) -> CollectionSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown serving collection {name!r}; known: {sorted(REGISTRY)}") from None
