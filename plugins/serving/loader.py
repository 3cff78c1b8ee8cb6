"""Idempotent, slice-atomic loads of the Parquet datasets into the MongoDB serving store (pymongo).

How a load works (the same code path on FerretDB v1 and on MongoDB):

1. Read the dataset with pyarrow, only the requested partitions (``local_date=...``, ``month=...``) when slices
   are given, and convert to the serving types (dates -> ISO strings, timestamps -> BSON datetimes in UTC).
   Duplicate natural keys in the rows raise :class:`DuplicateKeyError` before anything is written.
2. For each slice (one ``local_date``/``month``/``segmentation_version``/``run_id`` value, or ``*`` for a whole
   collection) the load gets its own ``_load_id`` ("<load uid>/<slice>") and registers it as *pending* on the
   slice's marker in ``serving_loads``.
3. New documents are inserted beside the committed ones (``insert_many`` batches of 10k, ``ordered=False``),
   with deterministic ``_id``s: 8 bytes from the hash of ``_load_id`` + a 4-byte row ordinal. Any version of a
   slice is therefore a contiguous ``_id`` range that can be deleted without reading it.
4. Commit: per slice, one single-document update of its marker sets ``load_id`` to the new version and moves the
   superseded one into ``pending``. Single-document writes are atomic on every MongoDB-compatible server; this
   is the moment readers switch to the new slice.
5. Cleanup: every pending version of the loaded slices (superseded, or left by a failed load) is deleted by
   ``_id`` range in as few commands as possible, then its manifest and pending entry. A failed load deletes its
   own partial documents on the way out; after a hard crash they stay pending until the next load of the slice.
   Where deletes read the whole collection (FerretDB) and many documents go, the collection is compacted
   instead: the documents that stay are copied into a new collection with the same indexes, which two renames
   swap in (:func:`compact_collection`), so a history reload costs one pass, not one per 30k documents.

Slices whose natural keys and row hashes equal the committed version (the manifest in ``serving_manifests``,
read by ``_id``) are not rewritten, so a rerun of an unchanged day costs no writes; the counts returned (new
keys, modified, unchanged, stale keys deleted) come from the same comparison.

Readers: between loads every collection holds exactly the committed documents, so plain queries are correct.
During the seconds a load is running its uncommitted documents are present too; readers that must never see
them filter with :func:`committed_filter` (``{"_load_id": {"$in": <committed load ids>}}``). A crash between
the commits of two slices leaves each slice whole (old or new), never half a day.

What FerretDB v1.24.2 (SQLite handler) supports, measured against the embedded server (2 vCPU, busy host):

- multi-document transactions: no (``insert: unknown field "startTransaction"``), not a replica set;
- ``$jsonSchema`` validators: no (``create`` with ``validator`` and ``collMod`` are "not implemented"); detected
  at runtime by :func:`server_features`, skipped and recorded in ``serving_collections``;
- ``renameCollection``: yes, keeping the indexes, but not ``dropTarget=true``, so a staging-collection swap
  leaves the name missing for a moment (hence the marker design above, and two renames for a compaction);
- unique (compound) indexes: yes, enforced (E11000); ``partialFilterExpression``: no;
- query pushdown: only ``_id`` equality in ``find``; every other filter (``_id`` ranges, ``$in``, any field)
  and every ``delete``/``update``/``replace`` -- even by ``_id`` -- scans the whole collection in FerretDB
  (``delete_one({"_id": ...})`` took 0.3 s on a 40k-document collection), so the loader never deletes or
  updates per document; a ``delete`` matching more than 32 766 documents fails ("too many SQL variables"), so
  cleanup deletes at most 30 000 documents per command, ranges ``$or``-ed together (one scan per 30k);
- secondary indexes: built and maintained, but never read (its SQLite queries filter only on ``_id``), so
  only the unique ones are created there (:func:`served_indexes`; explain's ``filterPushdown`` tells);
- bulk insert: CPU-bound in FerretDB at about 13-25k docs/s of its CPU for a 10-field document; on this busy
  2-vCPU host plain ``insert_many`` reached 7-30k docs/s (see bench/bench_load.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from bson import ObjectId
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient, UpdateOne
from pymongo.database import Database
from pymongo.errors import CollectionInvalid, OperationFailure

from plugins.serving.registry import (
    OPTIONAL_KEY_FIELDS,
    REGISTRY,
    SERVING_COLLECTIONS,
    SERVING_LOADS,
    SERVING_MANIFESTS,
    CollectionSpec,
    Index,
    spec,
)
from spark_jobs.common.settings import get_settings

log = logging.getLogger(__name__)

BATCH_SIZE = 10_000  # documents per insert_many
DELETE_CHUNK = 30_000  # FerretDB/SQLite: at most 32 766 ids per DELETE
MANIFEST_ROWS = 200_000  # natural keys + row hashes per manifest document (well under 16 MB)
WHOLE = "*"  # the slice of a collection without partitions

_clients: dict[str, MongoClient] = {}
_features: dict[tuple[str, str], dict[str, Any]] = {}


class DuplicateKeyError(ValueError):
    """The Parquet rows violate the collection's natural key; nothing was loaded."""


# --------------------------------------------------------------------------------------------------------------
# Connections and server features


def get_client(mongo_uri: str | None = None) -> MongoClient:
    uri = mongo_uri or get_settings().mongo_uri
    if uri not in _clients:
        _clients[uri] = MongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True)
    return _clients[uri]


def get_database(mongo_uri: str | None = None, db: str | Database | None = None) -> Database:
    """The serving database (settings ``mongo_db``); a :class:`Database` passes through unchanged."""
    if isinstance(db, Database):
        return db
    return get_client(mongo_uri)[db or get_settings().mongo_db]


def _not_supported(exc: OperationFailure) -> bool:
    msg = str(exc).lower()
    return exc.code in (9, 115, 238) or "not implemented" in msg or "unknown field" in msg or "not supported" in msg


def server_features(db: Database) -> dict[str, Any]:
    """Probe what the server supports (validators, collMod, transactions) once per database and cache it."""
    cache_key = (repr(db.client.address), db.name)
    if cache_key in _features:
        return _features[cache_key]
    info = db.client.admin.command("buildInfo")
    hello = db.client.admin.command("hello")
    feats: dict[str, Any] = {
        "server": f"ferretdb {info['ferretdbVersion']}" if "ferretdbVersion" in info else f"mongodb {info['version']}",
        "transactions": bool(hello.get("setName") or hello.get("msg") == "isdbgrid"),
        # FerretDB v1 answers every delete by reading the whole collection; MongoDB uses the _id index
        "deletes_scan": "ferretdbVersion" in info,
    }
    probe = f"_serving_probe_{uuid.uuid4().hex[:8]}"
    validator = {"$jsonSchema": {"bsonType": "object", "required": ["a"]}}
    try:
        db.create_collection(probe, validator=validator)
        feats["json_schema"] = True
    except OperationFailure as exc:
        if not _not_supported(exc):
            raise
        feats["json_schema"] = False
        feats["json_schema_error"] = str(exc.details.get("errmsg", exc))[:200] if exc.details else str(exc)[:200]
        db.create_collection(probe)
    try:
        # FerretDB's explain says whether a filter reaches its backend; where one on a plain field does not,
        # every query reads the whole collection and an index on that field is never read
        plan = db.command("explain", {"find": probe, "filter": {"a": 1}})
        feats["field_filters_use_indexes"] = plan.get("filterPushdown", True) is not False
        try:
            db.command("collMod", probe, validator=validator)
            feats["coll_mod"] = True
        except OperationFailure as exc:
            if not _not_supported(exc):
                raise
            feats["coll_mod"] = False
    finally:
        db.drop_collection(probe)
    _features[cache_key] = feats
    return feats


# --------------------------------------------------------------------------------------------------------------
# Collections: indexes and validators


def ensure_collections(
    db: Database | str | None = None, *, mongo_uri: str | None = None, names: Iterable[str] | None = None
) -> dict[str, Any]:
    """Create the collections, their indexes and (where the server supports it) their validators; idempotent.

    An existing collection gets its validator through ``collMod``; an index whose name exists with other keys is
    dropped and rebuilt. What was applied or skipped is returned and recorded in ``serving_collections``.

    A collection whose documents changed shape (its document key differs from the one recorded, e.g. forecasts
    going from one document per half-hour to one per day) is emptied with its slice markers and listed under
    ``reshaped``: the caller reloads it from the lake (``load_serving`` does), since old and new documents cannot
    share the unique index."""
    database = get_database(mongo_uri, db)
    feats = server_features(database)
    existing = set(database.list_collection_names())
    for name in names or REGISTRY:
        recover_swap(database, name, existing)
    recorded = {d["_id"]: d for d in database[SERVING_COLLECTIONS].find({}, {"key": 1, "document_key": 1})}
    report: dict[str, Any] = {"server": feats["server"], "collections": {}, "reshaped": []}
    for name in names or REGISTRY:
        s = spec(name)
        entry: dict[str, Any] = {}
        before = recorded.get(name)
        if name in existing and before and before.get("document_key", before.get("key")) != list(s.doc_key):
            log.warning("%s: documents change key %s -> %s; emptied for a reload", name, before, list(s.doc_key))
            database.drop_collection(name)
            _forget_slices(database, name)
            existing.discard(name)
            report["reshaped"].append(name)
        if name not in existing:
            try:
                _create_collection(database, name, s, feats)
                if feats["json_schema"]:
                    entry["validator"] = "applied"
            except CollectionInvalid:  # created concurrently
                pass
        if "validator" not in entry:
            if feats["json_schema"] and feats["coll_mod"]:
                database.command("collMod", name, validator=s.validator())
                entry["validator"] = "applied"
            else:
                entry["validator"] = f"skipped: {feats['server']} does not support $jsonSchema validators"
        used, unused = served_indexes(s, feats)
        entry["indexes"] = [_ensure_index(database, name, ix) for ix in used]
        if unused:
            present = database[name].index_information()
            for ix in unused:
                if ix.name in present:
                    database[name].drop_index(ix.name)
            entry["indexes_skipped"] = {
                "names": [ix.name for ix in unused],
                "reason": f"{feats['server']} filters every query outside the index, so only unique indexes help",
            }
        report["collections"][name] = entry
        database[SERVING_COLLECTIONS].replace_one(
            {"_id": name},
            {
                "_id": name,
                "grain": s.grain,
                "key": list(s.key),
                "document_key": list(s.doc_key),
                "partition": s.partition,
                "validator": entry["validator"],
                "indexes": entry["indexes"],
                "indexes_skipped": entry.get("indexes_skipped"),
                "server": feats["server"],
                "ensured_at": datetime.now(UTC),
            },
            upsert=True,
        )
    if feats["field_filters_use_indexes"]:
        _ensure_index(database, SERVING_LOADS, Index(("collection", "slice"), "collection_slice"))
    return report


def _create_collection(database: Database, coll: str, s: CollectionSpec, feats: dict[str, Any]) -> None:
    """Create ``coll`` for documents of ``s``, with its validator where the server supports them."""
    if feats["json_schema"]:
        database.create_collection(coll, validator=s.validator())
    else:
        database.create_collection(coll)


def served_indexes(s: CollectionSpec, feats: dict[str, Any]) -> tuple[list[Index], list[Index]]:
    """The collection's indexes to create, and those left out: on a server that reads every document of a
    collection for any filter but an ``_id`` match (FerretDB v1), the query-path indexes would cost each insert
    its index entries (about a fifth of FerretDB's CPU in a first load, bench/bench_load.py) and speed up
    nothing; unique ones still guard the keys."""
    indexes = s.all_indexes()
    if feats["field_filters_use_indexes"]:
        return indexes, []
    return [ix for ix in indexes if ix.unique], [ix for ix in indexes if not ix.unique]


def _ensure_index(database: Database, coll: str, ix: Index) -> str:
    """Create the index; an index with the same keys under another name is kept, a changed one rebuilt."""
    keys = [(f, 1) for f in ix.fields]
    try:
        database[coll].create_index(keys, name=ix.name, unique=ix.unique)
        return ix.name
    except OperationFailure as exc:
        if exc.code not in (85, 86):  # IndexOptionsConflict / IndexKeySpecsConflict
            raise
    info = database[coll].index_information()
    for name, spec_ in info.items():
        if [tuple(k) for k in spec_["key"]] == keys and bool(spec_.get("unique")) == ix.unique:
            return name
    if ix.name in info:
        database[coll].drop_index(ix.name)
    database[coll].create_index(keys, name=ix.name, unique=ix.unique)
    return ix.name


# --------------------------------------------------------------------------------------------------------------
# Reading and converting


def normalise_slice(partition: str | None, value: Any) -> str:
    """The serving form of a slice value: 'YYYY-MM-DD' for local_date, 'YYYY-MM' for month, else the string."""
    if partition is None:
        return WHOLE
    if isinstance(value, datetime):
        value = value.date()
    if partition == "month":
        text = value.isoformat() if isinstance(value, date) else str(value)
        date.fromisoformat(text[:7] + "-01")  # validates
        return text[:7]
    if partition == "local_date":
        text = value.isoformat() if isinstance(value, date) else str(value)
        return date.fromisoformat(text[:10]).isoformat()
    return str(value)


def read_dataset(path: Path, s: CollectionSpec, slices: list[str] | None) -> pa.Table:
    """Read a Parquet dataset folder; with ``slices`` only those hive partitions are opened."""
    if not path.exists():
        raise FileNotFoundError(f"{s.name}: no Parquet dataset at {path}")
    part = s.partition
    part_dirs = [p for p in path.iterdir() if p.is_dir() and part and p.name.startswith(f"{part}=")] if part else []
    if part_dirs:
        partitioning = ds.partitioning(pa.schema([(part, pa.string())]), flavor="hive")
        data = ds.dataset(str(path), format="parquet", partitioning=partitioning)
        if slices is None:
            return data.to_table()
        wanted = set(slices)
        raw = [v for v in (unquote(p.name.split("=", 1)[1]) for p in part_dirs) if normalise_slice(part, v) in wanted]
        return data.to_table(filter=ds.field(part).isin(pa.array(raw, pa.string())))
    table = ds.dataset(str(path), format="parquet").to_table()
    if part and slices is not None and part in table.column_names:
        values = serving_table(table.select([part]), s).column(part)
        table = table.filter(pc.is_in(values, value_set=pa.array(sorted(set(slices)), pa.string())))
    return table


def served_rows(table: pa.Table, s: CollectionSpec) -> pa.Table:
    """The rows the collection serves (``spec.serve_only``); the dataset keeps all of them."""
    for column, values in s.serve_only.items():
        if column in table.column_names:
            table = table.filter(pc.is_in(table[column], value_set=pa.array(values, table[column].type)))
    return table


def serving_table(table: pa.Table, s: CollectionSpec) -> pa.Table:
    """Arrow types that become the contract's BSON types: dates as ISO strings ('YYYY-MM' for month), timestamps
    as naive UTC milliseconds (pymongo writes naive datetimes as UTC), unsigned ints as int64."""
    cols = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = col.type
        if pa.types.is_date(t):
            col = col.cast(pa.string())
            t = col.type
        if pa.types.is_timestamp(t):
            col = col.cast(pa.timestamp(t.unit)).cast(pa.timestamp("ms"), safe=False)
        elif pa.types.is_unsigned_integer(t) or (pa.types.is_integer(t) and t.bit_width < 32):
            col = col.cast(pa.int64())
        elif pa.types.is_decimal(t) or pa.types.is_float16(t):
            col = col.cast(pa.float64())
        elif pa.types.is_large_string(t):
            col = col.cast(pa.string())
        if name == "month" and pa.types.is_string(col.type):
            col = pc.utf8_slice_codeunits(col, 0, 7)
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _key_columns(table: pa.Table, s: CollectionSpec) -> list[str]:
    optional = OPTIONAL_KEY_FIELDS.get(s.name, ())
    missing = [k for k in s.key if k not in table.column_names and k not in optional]
    if missing:
        raise ValueError(f"{s.name}: natural key columns {missing} missing from the data ({table.column_names})")
    return [k for k in s.key if k in table.column_names]


def check_unique_keys(table: pa.Table, s: CollectionSpec, sample: int = 5) -> None:
    keys = _key_columns(table, s)
    if table.num_rows == 0:
        return
    counts = table.select(keys).group_by(keys, use_threads=False).aggregate([([], "count_all")])
    dups = counts.filter(pc.greater(counts.column("count_all"), 1))
    if dups.num_rows:
        samples = dups.slice(0, sample).to_pylist()
        raise DuplicateKeyError(
            f"{s.name}: {dups.num_rows} natural keys ({', '.join(keys)}) occur more than once in the rows; "
            f"nothing loaded. Sample keys with counts: {samples}"
        )


ROW_HASH = "_row_hash"  # per-document hash column a bucketed table carries into load_table's comparison


def bucket_rows(table: pa.Table, s: CollectionSpec) -> pa.Table:
    """Group serving rows into the documents of a bucketed collection: one row per ``bucket.by`` key, every other
    column a list in ``bucket.order`` order, plus ``ROW_HASH``: the wrapping sum of the rows' 64-bit hashes, which
    changes when any row of the bucket does, so a rerun compares buckets with the committed version as it compares
    rows elsewhere."""
    import numpy as np

    by = [k for k in s.bucket.by if k in table.column_names]
    values = [c for c in table.column_names if c not in by]
    table = table.append_column(ROW_HASH, _row_hashes(table))
    table = table.sort_by([(k, "ascending") for k in by] + [(s.bucket.order, "ascending")])
    keys = _key_strings(table, by).to_numpy(zero_copy_only=False) if table.num_rows else np.array([], object)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.array([], np.int64)
    offsets = pa.array(np.r_[starts, len(keys)].astype(np.int32))
    out = table.select(by).take(pa.array(starts, pa.int64()))
    for c in values:
        out = out.append_column(c, pa.ListArray.from_arrays(offsets, table.column(c).combine_chunks()))
    hashes = table.column(ROW_HASH).to_numpy()
    summed = np.add.reduceat(hashes, starts) if len(starts) else np.array([], np.uint64)  # uint64: wraps
    return out.append_column(ROW_HASH, pa.array(summed, pa.uint64()))


def unbucket(frame, s: CollectionSpec):
    """Documents of a bucketed collection (a pandas DataFrame) back as one row per array element."""
    arrays = [c for c in s.arrays() if c in frame.columns]
    if not len(frame) or not arrays:
        return frame
    return frame.explode(arrays, ignore_index=True)


def _key_strings(table: pa.Table, keys: list[str]) -> pa.Array:
    parts = [pc.cast(table.column(k), pa.string()) for k in keys]
    joined = pc.binary_join_element_wise(*parts, "\x1f", null_handling="replace", null_replacement="\x00")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _row_hashes(table: pa.Table) -> pa.Array:
    """A stable 64-bit hash of each row's values (pandas' hash with its fixed key), to count modified rows."""
    import pandas as pd

    if table.num_rows == 0:
        return pa.array([], pa.uint64())
    frame = table.to_pandas(date_as_object=False)
    return pa.array(pd.util.hash_pandas_object(frame, index=False).to_numpy(), pa.uint64())


# --------------------------------------------------------------------------------------------------------------
# Load


def _token(load_id: str) -> bytes:
    return hashlib.sha256(load_id.encode()).digest()[:8]


def _oid(token: bytes, ordinal: int) -> ObjectId:
    return ObjectId(token + ordinal.to_bytes(4, "big"))


def _marker_id(collection: str, slice_value: str) -> str:
    return f"{collection}|{slice_value}"


def _forget_slices(database: Database, collection: str) -> None:
    """Drop every slice marker and manifest of ``collection`` (its documents are gone: they describe nothing)."""
    database[SERVING_LOADS].delete_many({"collection": collection})
    database[SERVING_MANIFESTS].delete_many({"_id": {"$regex": f"^{re.escape(_marker_id(collection, ''))}"}})


def _slice_groups(table: pa.Table, partition: str | None) -> tuple[pa.Table, dict[str, tuple[int, int]]]:
    """Sort by the partition so each slice is one contiguous row range: {slice: (offset, length)}."""
    if partition is None:
        return table, {WHOLE: (0, table.num_rows)}
    if partition not in table.column_names:
        raise ValueError(f"partition column {partition!r} missing from the data ({table.column_names})")
    if pc.any(pc.is_null(table.column(partition))).as_py():
        raise ValueError(f"partition column {partition!r} has nulls")
    table = table.sort_by([(partition, "ascending")])
    col = table.column(partition)
    uniques = pc.unique(col).to_pylist()
    vc = pc.value_counts(col)
    counts = dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True))
    groups, offset = {}, 0
    for u in uniques:
        groups[u] = (offset, counts[u])
        offset += counts[u]
    return table, groups


def _batches(table: pa.Table, token: bytes, meta: dict[str, Any], batch_size: int) -> Iterator[list[dict]]:
    ordinal = 0
    for rb in table.to_batches(max_chunksize=batch_size):
        docs = rb.to_pylist()
        for d in docs:
            d["_id"] = _oid(token, ordinal)
            d.update(meta)
            ordinal += 1
        yield docs


# FerretDB v1 (SQLite) keeps one pooled SQLite connection per matched statement of an update command until the
# command ends (100 in its pool): a bulk write of more than ~100 matching updates deadlocks the server. Marker
# updates are therefore sent at most this many statements per command.
STATEMENTS_PER_COMMAND = 50


def _bulk_write(coll, ops: list, ordered: bool = True) -> None:
    for start in range(0, len(ops), STATEMENTS_PER_COMMAND):
        coll.bulk_write(ops[start : start + STATEMENTS_PER_COMMAND], ordered=ordered)


def _delete_ranges(coll, ranges: list[tuple[bytes, int]]) -> int:
    """Delete versions given as (token, n docs) by _id range, at most DELETE_CHUNK documents per command."""
    pieces: list[tuple[bytes, int, int]] = []
    for token, n in ranges:
        for start in range(0, max(n, 1), DELETE_CHUNK):
            pieces.append((token, start, min(n, start + DELETE_CHUNK) - 1))
    deleted, group, size = 0, [], 0
    for piece in [*pieces, None]:
        if piece is not None and size + (piece[2] - piece[1] + 1) <= DELETE_CHUNK:
            group.append(piece)
            size += piece[2] - piece[1] + 1
            continue
        if group:
            clauses = [{"_id": {"$gte": _oid(t, a), "$lte": _oid(t, max(a, b))}} for t, a, b in group]
            deleted += coll.delete_many(clauses[0] if len(clauses) == 1 else {"$or": clauses}).deleted_count
        if piece is not None:
            group, size = [piece], piece[2] - piece[1] + 1
    return deleted


# Compaction. On a server whose deletes read the whole collection (FerretDB v1), removing G superseded documents by
# range costs ceil(G / DELETE_CHUNK) reads of the collection: a reload of a whole history (4.6M household days
# beside their 4.6M predecessors) would read ~9M documents ~150 times. Copying the documents that stay into a new
# collection reads it once and inserts each kept document once; two renames then swap the copy in.
COMPACT_SUFFIX = "__compact"  # the copy being built
SWAPPED_SUFFIX = "__swapped"  # the previous collection, between the two renames of the swap


def compaction_pays(docs_total: int, docs_garbage: int) -> bool:
    """Whether copying the collection beats range deletes, counting document reads and inserts alike (on
    FerretDB v1 reading 200k documents took 10.1 s and inserting them 9.4 s)."""
    reads = -(-docs_garbage // DELETE_CHUNK)
    return reads * docs_total > docs_total + (docs_total - docs_garbage)


def _marker_state(database: Database, collection: str) -> dict[str, tuple[Any, tuple[str, ...]]]:
    """Each slice's committed load and pending versions: any change means another load is at work."""
    return {
        m["slice"]: (m.get("load_id"), tuple(sorted(m.get("pending") or {})))
        for m in database[SERVING_LOADS].find({"collection": collection}, {"slice": 1, "load_id": 1, "pending": 1})
    }


def _collection_docs(markers: Iterable[dict]) -> int:
    """Documents in a collection by its slice markers (committed and pending versions): no count, which scans."""
    return sum(m.get("docs", 0) + sum(p.get("docs", 0) for p in (m.get("pending") or {}).values()) for m in markers)


def compact_collection(
    database: Database, name: str, drop_tokens: set[bytes], batch_size: int = BATCH_SIZE
) -> int | None:
    """Rebuild ``name`` without the versions in ``drop_tokens`` (8-byte ``_id`` prefixes) and swap it in.

    Returns the number of documents left out, or None (nothing changed, the copy dropped) when a version not
    being dropped is pending -- another load may be inserting -- or the slice markers changed during the copy.
    A crash leaves either the old collection whole (the copy is dropped later) or both halves of the swap, which
    :func:`recover_swap` completes; ensure_collections and load_table call it first."""
    before = _marker_state(database, name)
    if any(bytes.fromhex(t) not in drop_tokens for _, pending in before.values() for t in pending):
        log.info("%s: another version is pending; no compaction", name)
        return None
    s, feats = spec(name), server_features(database)
    copy_name = name + COMPACT_SUFFIX
    database.drop_collection(copy_name)
    _create_collection(database, copy_name, s, feats)
    for ix in served_indexes(s, feats)[0]:
        _ensure_index(database, copy_name, ix)
    raw = CodecOptions(document_class=RawBSONDocument)  # documents pass through without decoding
    source, target = database[name].with_options(codec_options=raw), database[copy_name]
    dropped, batch = 0, []
    with ThreadPoolExecutor(1) as pool:  # the server reads the next batch while it inserts the last one
        inserting = pool.submit(lambda: None)
        for doc in source.find({}, batch_size=batch_size):
            oid = doc["_id"]
            if isinstance(oid, ObjectId) and oid.binary[:8] in drop_tokens:
                dropped += 1
                continue
            batch.append(doc)
            if len(batch) >= batch_size:
                inserting.result()
                inserting = pool.submit(target.insert_many, batch, ordered=False)
                batch = []
        inserting.result()
    if batch:
        target.insert_many(batch, ordered=False)
    if _marker_state(database, name) != before:
        log.warning("%s: slice markers changed during the compaction; copy dropped", name)
        database.drop_collection(copy_name)
        return None
    _swap(database, name)
    return dropped


def _swap(database: Database, name: str) -> None:
    """Put the finished copy in place. FerretDB v1 has no ``renameCollection`` with ``dropTarget``, so the old
    collection is renamed away first: for the milliseconds between the renames the name does not exist."""
    database[name].rename(name + SWAPPED_SUFFIX)
    database[name + COMPACT_SUFFIX].rename(name)
    database.drop_collection(name + SWAPPED_SUFFIX)


def recover_swap(database: Database, name: str, existing: set[str] | None = None) -> str | None:
    """Complete or undo a compaction of ``name`` that stopped half-way; returns what was done, if anything.

    The old collection is renamed away only after the last document was copied, so a copy beside a renamed-away
    original is complete: it is put in place. A copy beside the original is an unfinished one: it is dropped."""
    names = existing if existing is not None else set(database.list_collection_names())
    copy_name, swapped = name + COMPACT_SUFFIX, name + SWAPPED_SUFFIX
    done = None
    if swapped in names and name not in names:
        database[copy_name if copy_name in names else swapped].rename(name)
        names.discard(copy_name if copy_name in names else swapped)
        names.add(name)
        done = "finished the swap"
    for leftover in (swapped, copy_name):
        if leftover in names:
            database.drop_collection(leftover)
            names.discard(leftover)
            done = done or f"dropped {leftover}"
    if done:
        log.warning("%s: interrupted compaction found; %s", name, done)
    return done


def _manifest_chunks(rows: int) -> int:
    return len(range(0, max(rows, 1), MANIFEST_ROWS))


def _manifest_id(mid: str, token_hex: str, chunk: int) -> str:
    return f"{mid}|{token_hex}|{chunk}"


def _manifest_docs(mid: str, token: bytes, keys: pa.Array, hashes: pa.Array) -> list[dict]:
    """Natural keys and row hashes of a slice version as zstd Arrow IPC blobs, read back by ``_id`` only."""
    table = pa.table({"key": keys, "hash": hashes})
    docs = []
    for i in range(_manifest_chunks(table.num_rows)):
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
            w.write_table(table.slice(i * MANIFEST_ROWS, MANIFEST_ROWS))
        docs.append({"_id": _manifest_id(mid, token.hex(), i), "data": sink.getvalue()})
    return docs


def _read_manifest(db: Database, mid: str, token_hex: str, chunks: int) -> pa.Table | None:
    tables = []
    for i in range(chunks):
        doc = db[SERVING_MANIFESTS].find_one({"_id": _manifest_id(mid, token_hex, i)})
        if doc is None:
            return None
        tables.append(pa.ipc.open_stream(bytes(doc["data"])).read_all())
    return pa.concat_tables(tables) if tables else None


def _compare(old: pa.Table | None, keys: pa.Array, hashes: pa.Array) -> dict[str, int]:
    """New keys, changed rows, unchanged rows and keys that disappeared, against the previous slice version."""
    if old is None or old.num_rows == 0:
        return {"upserted": len(keys), "modified": 0, "unchanged": 0, "deleted_stale": 0}
    new = pa.table({"key": keys, "hash_new": hashes})
    joined = new.join(old.rename_columns(["key", "hash_old"]), "key", join_type="full outer")
    has_new, has_old = pc.is_valid(joined.column("hash_new")), pc.is_valid(joined.column("hash_old"))
    both = pc.and_(has_new, has_old)
    same = pc.and_(both, pc.equal(joined.column("hash_new"), joined.column("hash_old")))
    n_both, n_same = pc.sum(both).as_py() or 0, pc.sum(pc.fill_null(same, False)).as_py() or 0
    return {
        "upserted": len(keys) - n_both,
        "modified": n_both - n_same,
        "unchanged": n_same,
        "deleted_stale": (pc.sum(has_old).as_py() or 0) - n_both,
    }


def load_table(
    table: pa.Table,
    dataset: str,
    *,
    run_id: str,
    slices: list[str] | None = None,
    db: Database | str | None = None,
    mongo_uri: str | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = 1,
    skip_unchanged: bool = True,
    compact: bool | None = None,
    _fail_after_batches: int | None = None,
) -> dict[str, Any]:
    """Load an Arrow table as the new version of its slices (or of the whole collection when ``slices`` is None).

    ``slices`` lists the partition values the table replaces; a listed slice without rows is emptied. With
    None, a partitioned collection's slices are those in the table plus those already loaded (stale slices are
    emptied). A slice whose keys and row hashes equal the committed version is left as it is
    (``skip_unchanged``). The superseded versions are removed by range deletes, or by a compaction when the
    server's deletes read the whole collection and that is cheaper (``compact`` None), always (True) or never
    (False). ``_fail_after_batches`` simulates a crash mid-load (tests)."""
    started = time.monotonic()
    s = spec(dataset)
    database = get_database(mongo_uri, db)
    recover_swap(database, dataset)
    coll = database[dataset]
    table = serving_table(table, s)
    check_unique_keys(table, s)
    rows = table.num_rows
    if s.bucket:
        table = bucket_rows(table, s)
    keys_cols = [k for k in s.doc_key if k in table.column_names] if s.bucket else _key_columns(table, s)
    table, groups = _slice_groups(table, s.partition)
    if s.bucket:
        hashes = table.column(ROW_HASH).combine_chunks()
        table = table.drop_columns([ROW_HASH])
    else:
        hashes = _row_hashes(table)
    markers = {m["slice"]: m for m in database[SERVING_LOADS].find({"collection": dataset})}
    # find_one, not estimated_document_count(): FerretDB v1 counts by scanning the whole collection (48 s at 800k
    # forecasts, three days of a 5,566-household run), find_one stops at the first document (3 ms)
    if markers and any(m.get("docs") for m in markers.values()) and coll.find_one({}, {"_id": 1}) is None:
        # the collection was dropped or emptied by hand: its markers describe nothing, load every slice afresh
        log.warning("%s: collection is empty but %d slice markers exist; reloading from scratch", dataset, len(markers))
        _forget_slices(database, dataset)
        markers = {}
    if s.partition is None:
        targets = [WHOLE]
    elif slices is None:
        targets = sorted(set(groups) | set(markers))
    else:
        targets = sorted({normalise_slice(s.partition, v) for v in slices})
        extra = set(groups) - set(targets)
        if extra:
            raise ValueError(f"{dataset}: rows for slices not being loaded: {sorted(extra)[:5]}")
    uid = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    loaded_at = datetime.now(UTC).replace(microsecond=0)
    key_strings = _key_strings(table, keys_cols) if table.num_rows else pa.array([], pa.string())

    # plan: compare each slice with its committed version (manifest read by _id: no collection scan)
    totals = {"upserted": 0, "modified": 0, "unchanged": 0, "deleted_stale": 0, "replaced_docs": 0, "compacted": False}
    plan = []  # (slice, marker id, load_id, token, offset, length, marker)
    skipped = 0
    for sl in targets:
        offset, length = groups.get(sl, (0, 0))
        marker = markers.get(sl) or {}
        if length == 0 and not marker.get("docs") and not marker.get("pending"):
            continue  # nothing loaded before, nothing to load
        mid = _marker_id(dataset, sl)
        old = (
            _read_manifest(database, mid, marker["token"], marker.get("manifest_chunks", 0))
            if marker.get("token")
            else None
        )
        diff = _compare(old, key_strings.slice(offset, length), hashes.slice(offset, length))
        for k, v in diff.items():
            totals[k] += v
        if (
            skip_unchanged
            and old is not None
            and not marker.get("pending")
            and diff["unchanged"] == length
            and (diff["deleted_stale"] == 0)
        ):
            skipped += 1
            continue
        load_id = f"{uid}/{sl}"
        plan.append((sl, mid, load_id, _token(load_id), offset, length, marker))

    # 1. register the pending versions, so a crash leaves a trace the next load cleans up
    if plan:
        _bulk_write(
            database[SERVING_LOADS],
            [
                UpdateOne(
                    {"_id": mid},
                    {
                        "$set": {
                            f"pending.{tok.hex()}": {
                                "load_id": lid,
                                "docs": n,
                                "manifest_chunks": _manifest_chunks(n),
                                "started_at": loaded_at,
                            }
                        },
                        "$setOnInsert": {"collection": dataset, "slice": sl, "partition": s.partition},
                    },
                    upsert=True,
                )
                for sl, mid, lid, tok, _, n, _ in plan
            ],
            ordered=False,
        )

    # 2. insert the new versions beside the committed ones
    insert_started = time.monotonic()
    inserted = 0

    def batches() -> Iterator[list[dict]]:
        for _sl, _mid, lid, tok, offset, length, _m in plan:
            if length:
                meta = {"_load_id": lid, "_loaded_at": loaded_at}
                yield from _batches(table.slice(offset, length), tok, meta, batch_size)

    try:
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                pending: list = []
                for docs in batches():
                    pending.append(pool.submit(coll.insert_many, docs, ordered=False))
                    if len(pending) >= 2 * workers:
                        inserted += len(pending.pop(0).result().inserted_ids)
                for fut in pending:
                    inserted += len(fut.result().inserted_ids)
        else:
            for i, docs in enumerate(batches()):
                if _fail_after_batches is not None and i >= _fail_after_batches:
                    raise RuntimeError(f"simulated failure after {i} batches")
                inserted += len(coll.insert_many(docs, ordered=False).inserted_ids)
    except BaseException:
        log.exception("%s: load %s failed; removing its %d inserted documents", dataset, uid, inserted)
        try:
            _delete_ranges(coll, [(tok, n) for _, _, _, tok, _, n, _ in plan if n])
            _bulk_write(
                database[SERVING_LOADS],
                [UpdateOne({"_id": mid}, {"$unset": {f"pending.{tok.hex()}": ""}}) for _, mid, _, tok, *_ in plan],
            )
        except Exception:  # noqa: BLE001 - the next load of the slice removes what is left
            log.exception("%s: cleanup of failed load %s incomplete; left pending on serving_loads", dataset, uid)
        raise
    insert_s = time.monotonic() - insert_started

    # 3. commit: per slice one single-document write of its marker switches readers to the new version; the
    #    superseded version joins the marker's ``pending`` versions, so a crash before step 4 leaves a trace
    now = datetime.now(UTC)
    manifests, commits, garbage, unsets = [], [], [], []
    for _sl, mid, lid, tok, offset, length, marker in plan:
        manifests += _manifest_docs(mid, tok, key_strings.slice(offset, length), hashes.slice(offset, length))
        update: dict[str, Any] = {
            "load_id": lid,
            "token": tok.hex(),
            "docs": length,
            "manifest_chunks": _manifest_chunks(length),
            "run_id": run_id,
            "committed_at": now,
            "previous_load_id": marker.get("load_id"),
        }
        old = dict(marker.get("pending") or {})
        if marker.get("token"):
            old[marker["token"]] = {
                "load_id": marker.get("load_id"),
                "docs": marker.get("docs", 0),
                "manifest_chunks": marker.get("manifest_chunks", 0),
                "superseded_at": now,
            }
            update[f"pending.{marker['token']}"] = old[marker["token"]]
        commits.append(UpdateOne({"_id": mid}, {"$set": update, "$unset": {f"pending.{tok.hex()}": ""}}))
        for t, entry in old.items():
            garbage.append((bytes.fromhex(t), entry.get("docs", 0)))
            manifests_old = [_manifest_id(mid, t, i) for i in range(entry.get("manifest_chunks", 0))]
            unsets.append((mid, t, manifests_old))
    if manifests:
        database[SERVING_MANIFESTS].insert_many(manifests, ordered=False)
    if commits:
        _bulk_write(database[SERVING_LOADS], commits, ordered=True)

    # 4. cleanup: all superseded and failed versions of the loaded slices, by a compaction where that is cheaper
    #    or else in as few range deletes as possible (each a collection scan on FerretDB), then their manifests
    #    and pending entries
    garbage = [(t, n) for t, n in garbage if n]
    replaced = None
    if garbage and compact is not False:
        docs_total = _collection_docs(database[SERVING_LOADS].find({"collection": dataset}))
        docs_garbage = sum(n for _, n in garbage)
        pays = server_features(database)["deletes_scan"] and compaction_pays(docs_total, docs_garbage)
        if compact or pays:
            replaced = compact_collection(database, dataset, {t for t, _ in garbage}, batch_size)
    totals["compacted"] = replaced is not None
    totals["replaced_docs"] = replaced if replaced is not None else _delete_ranges(coll, garbage)
    old_manifests = [m for _, _, ms in unsets for m in ms]
    if old_manifests:
        database[SERVING_MANIFESTS].delete_many({"_id": {"$in": old_manifests}})
    if unsets:
        by_marker: dict[str, dict[str, str]] = {}
        for mid, t, _ in unsets:
            by_marker.setdefault(mid, {})[f"pending.{t}"] = ""
        _bulk_write(database[SERVING_LOADS], [UpdateOne({"_id": m}, {"$unset": u}) for m, u in by_marker.items()])
    duration = time.monotonic() - started
    return {
        "dataset": dataset,
        "run_id": run_id,
        "load_uid": uid,
        "slices": len(plan),
        "slices_unchanged": skipped,
        "read": table.num_rows,
        "rows": rows,  # rows of the dataset; = read unless the collection is bucketed
        "inserted": inserted,
        **totals,
        "duration_s": round(duration, 3),
        "insert_s": round(insert_s, 3),
        "docs_per_s": round(table.num_rows / duration, 1) if duration > 0 else None,
        "insert_docs_per_s": round(inserted / insert_s, 1) if insert_s > 0 else None,
    }


def load_dataset(
    dataset: str,
    *,
    local_dates: list[str] | None = None,
    months: list[str] | None = None,
    partitions: list[str] | None = None,
    run_id: str,
    lake_dir: Path | str | None = None,
    mongo_uri: str | None = None,
    db: Database | str | None = None,
    workers: int = 1,
    skip_unchanged: bool = True,
    compact: bool | None = None,
) -> dict[str, Any]:
    """Load one Parquet dataset (the given days/months/partition values, or all of it) idempotently.

    Returns counts: read, inserted, upserted (new keys), modified, unchanged, deleted_stale (keys gone from a
    slice), replaced_docs, compacted, duration_s, docs_per_s."""
    s = spec(dataset)
    if s.source == "api":
        raise ValueError(f"{dataset} is written by record_* helpers, not loaded from Parquet")
    if s.source == "csv":
        return load_households(run_id=run_id, mongo_uri=mongo_uri, db=db)
    lake = Path(lake_dir) if lake_dir is not None else get_settings().lake_dir
    if s.source == "derived":
        return load_rejected_summary(run_id=run_id, lake_dir=lake, mongo_uri=mongo_uri, db=db)
    given = [v for v in (local_dates, months, partitions) if v is not None]
    if len(given) > 1:
        raise ValueError("pass at most one of local_dates, months, partitions")
    slices = None
    if given:
        if s.partition is None:
            raise ValueError(f"{dataset} has no partitions; load it whole (no local_dates/months)")
        if local_dates is not None and s.partition != "local_date":
            raise ValueError(f"{dataset} is partitioned by {s.partition}, not local_date")
        if months is not None and s.partition != "month":
            raise ValueError(f"{dataset} is partitioned by {s.partition}, not month")
        slices = [normalise_slice(s.partition, v) for v in given[0]]
    read_started = time.monotonic()
    table = served_rows(read_dataset(lake / dataset, s, slices), s)
    read_s = time.monotonic() - read_started
    result = load_table(
        table,
        dataset,
        run_id=run_id,
        slices=slices,
        db=db,
        mongo_uri=mongo_uri,
        workers=workers,
        skip_unchanged=skip_unchanged,
        compact=compact,
    )
    result["read_s"] = round(read_s, 3)
    log.info("loaded %s: %s", dataset, result)
    return result


KNOWN_ACORN_GROUPS = ("Affluent", "Comfortable", "Adversity", "ACORN-U")


def households_table(csv_path: Path | str) -> pa.Table:
    """household_information.csv -> household_id, tariff_group, acorn, acorn_group (as aggregate.py maps it)."""
    import pyarrow.csv as pcsv

    raw = pcsv.read_csv(
        str(csv_path),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(["LCLid", "stdorToU", "Acorn", "Acorn_grouped", "file"], pa.string())
        ),
    )
    group = pc.utf8_trim_whitespace(raw.column("Acorn_grouped"))
    known = pc.fill_null(pc.is_in(group, value_set=pa.array(KNOWN_ACORN_GROUPS)), False)
    table = pa.table(
        {
            "household_id": pc.utf8_trim_whitespace(raw.column("LCLid")),
            "tariff_group": pc.utf8_trim_whitespace(raw.column("stdorToU")),
            "acorn": pc.utf8_trim_whitespace(raw.column("Acorn")),
            "acorn_group": pc.if_else(known, group, pa.scalar("unknown")),
        }
    )
    return table.filter(pc.is_valid(table.column("household_id")))


def load_households(
    *, run_id: str, csv_path: Path | str | None = None, mongo_uri: str | None = None, db: Database | str | None = None
) -> dict[str, Any]:
    path = csv_path or get_settings().household_information_csv
    return load_table(households_table(path), "households", run_id=run_id, db=db, mongo_uri=mongo_uri)


def load_rejected_summary(
    *, run_id: str, lake_dir: Path | str | None = None, mongo_uri: str | None = None, db: Database | str | None = None
) -> dict[str, Any]:
    """readings_rejected (one row per rejected line) counted per source_file x reason, loaded whole."""
    lake = Path(lake_dir) if lake_dir is not None else get_settings().lake_dir
    path = lake / "readings_rejected"
    if not path.exists():
        raise FileNotFoundError(f"readings_rejected_summary: no Parquet dataset at {path}")
    rejected = ds.dataset(str(path), format="parquet").to_table(columns=["source_file", "reason"])
    counts = rejected.group_by(["source_file", "reason"]).aggregate([([], "count_all")])
    table = counts.rename_columns(["source_file", "reason", "rejected_lines"])
    return load_table(table, "readings_rejected_summary", run_id=run_id, db=db, mongo_uri=mongo_uri)


# --------------------------------------------------------------------------------------------------------------
# Readers


def committed_load_ids(db: Database | str | None, collection: str, *, mongo_uri: str | None = None) -> list[str]:
    database = get_database(mongo_uri, db)
    markers = database[SERVING_LOADS].find({"collection": collection}, {"load_id": 1})
    return sorted(m["load_id"] for m in markers if m.get("load_id"))


def committed_filter(db: Database | str | None, collection: str, *, mongo_uri: str | None = None) -> dict:
    """Filter that shows only committed slice versions, even while a load of the collection is running."""
    return {"_load_id": {"$in": committed_load_ids(db, collection, mongo_uri=mongo_uri)}}


# --------------------------------------------------------------------------------------------------------------
# Upsert helpers for run bookkeeping


def bson_safe(value: Any, depth: int = 0) -> Any:
    """Plain BSON-encodable values: dates as ISO strings, numpy scalars as Python, keys without '.'/'$' prefix."""
    if depth > 40:
        return str(value)
    if isinstance(value, dict):
        return {_safe_key(k): bson_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [bson_safe(v, depth + 1) for v in value]
    if value is None or isinstance(value, bool | str | float | datetime | bytes | ObjectId):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    item = getattr(value, "item", None)  # numpy / pandas scalars
    if callable(item):
        try:
            return bson_safe(item(), depth + 1)
        except (TypeError, ValueError):
            pass
    return str(value)


def _safe_key(key: Any) -> str:
    key = str(key).replace(".", "_")
    return "_" + key[1:] if key.startswith("$") else key


MAX_RESULT_BYTES = 4_000_000


def record_dq_result(
    summary: dict[str, Any],
    run_id: str,
    dag_id: str,
    *,
    mongo_uri: str | None = None,
    db: Database | str | None = None,
) -> dict[str, Any]:
    """Upsert the ``dq_results`` document of (suite, run_id) from a gate summary.

    Keeps success, counts and the failed expectations with samples; the full GX result is embedded when it is
    under 4 MB (from ``summary['result']`` or the JSON at ``summary['result_path']``), else only its path."""
    database = get_database(mongo_uri, db)
    suite = summary.get("suite") or summary.get("dataset")
    if not suite:
        raise ValueError("dq summary has no 'suite'")
    doc = bson_safe({k: v for k, v in summary.items() if k not in ("result", "results")})
    result = summary.get("result", summary.get("results"))
    if result is None and summary.get("result_path") and Path(summary["result_path"]).is_file():
        path = Path(summary["result_path"])
        if path.stat().st_size < MAX_RESULT_BYTES:
            result = json.loads(path.read_text()).get("results")
    if result is not None and len(json.dumps(result, default=str)) < MAX_RESULT_BYTES:
        doc["result"] = bson_safe(result)
    doc.update(suite=suite, run_id=run_id, dag_id=dag_id, _loaded_at=datetime.now(UTC), _load_id=f"dq/{run_id}")
    doc.setdefault("validated_at", datetime.now(UTC))
    database["dq_results"].replace_one({"suite": suite, "run_id": run_id}, doc, upsert=True)
    return {"suite": suite, "run_id": run_id}


def record_pipeline_run(
    dag_id: str,
    run_id: str,
    *,
    status: str | None = None,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
    row_counts: dict[str, int] | None = None,
    durations_s: dict[str, float] | None = None,
    fields: dict[str, Any] | None = None,
    mongo_uri: str | None = None,
    db: Database | str | None = None,
) -> dict[str, Any]:
    """Upsert the ``pipeline_runs`` document of (dag_id, run_id); merges with what callbacks already set.

    ``row_counts`` and ``durations_s`` are merged per stage/task (``row_counts.<stage>``), so every task can add
    its own numbers without reading the document first."""
    database = get_database(mongo_uri, db)
    update: dict[str, Any] = {"updated_at": datetime.now(UTC)}
    if status is not None:
        update["status"] = status
        if status in ("success", "failed"):
            update["ended_at"] = datetime.now(UTC)
    if data_interval_start is not None:
        update["data_interval_start"] = data_interval_start
    if data_interval_end is not None:
        update["data_interval_end"] = data_interval_end
    for stage, n in (row_counts or {}).items():
        update[f"row_counts.{_safe_key(stage)}"] = bson_safe(n)
    for task, sec in (durations_s or {}).items():
        update[f"durations_s.{_safe_key(task)}"] = bson_safe(sec)
    update.update(bson_safe(fields or {}))
    database["pipeline_runs"].update_one(
        {"dag_id": dag_id, "run_id": run_id},
        {"$set": update, "$setOnInsert": {"dag_id": dag_id, "run_id": run_id}},
        upsert=True,
    )
    return {"dag_id": dag_id, "run_id": run_id}
