"""A 64-bit content hash per row of an Arrow batch, computed column by column (no Python loop per row).

A row's hash depends on its column names and values, not on the column order; a list's on its
elements in order; a struct's on its field names and values. Values hash as typed: ``1`` (int) and
``1.0`` (float) differ, so a column whose type changed shows every row as changed (and the schema
change says why). Strings and binary values go through pandas' vectorised SipHash (fixed key, so
hashes are the same in every process); numbers through their 8-byte representation.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub_tools.text.ngrams import mix64

_NULL = np.uint64(0x6A09E667F3BCC908)
_POS = np.uint64(0x9E3779B97F4A7C15)
_LEN = np.uint64(0xC2B2AE3D27D4EB4F)


def _strings(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    return pd.util.hash_array(values, categorize=False).astype(np.uint64, copy=False)


def name_hash(name: str) -> np.uint64:
    return np.uint64(_strings(np.array([name], dtype=object))[0])


def _segment_sums(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Sum (mod 2**64) of consecutive runs of ``values`` of the given lengths (zero for empty runs)."""
    csum = np.concatenate([np.zeros(1, np.uint64), np.cumsum(values, dtype=np.uint64)])
    ends = np.cumsum(lengths)
    return csum[ends] - csum[ends - lengths]


def array_hash(arr: pa.Array) -> np.ndarray:
    """One uint64 per element of ``arr``; nulls hash to a constant."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.uint64)
    if pa.types.is_dictionary(t):
        return array_hash(arr.dictionary_decode())
    if pa.types.is_null(t):
        return np.full(n, _NULL, np.uint64)
    nulls = np.asarray(arr.is_null(), dtype=bool) if arr.null_count else None
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
            or pa.types.is_large_binary(t) or pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        out = _strings(arr.fill_null("" if not pa.types.is_binary(t) else b"").to_numpy(zero_copy_only=False))
    elif pa.types.is_boolean(t):
        out = mix64(np.asarray(arr.fill_null(False), dtype=np.uint64) + np.uint64(0x51))
    elif pa.types.is_integer(t):
        out = mix64(np.asarray(arr.fill_null(0).cast(pa.int64()), dtype=np.int64).view(np.uint64))
    elif pa.types.is_floating(t):
        values = np.asarray(arr.fill_null(0).cast(pa.float64()), dtype=np.float64) + 0.0  # -0.0 == 0.0
        out = mix64(values.view(np.uint64) ^ np.uint64(0xF10A7))
    elif pa.types.is_temporal(t) or pa.types.is_decimal(t) or pa.types.is_fixed_size_binary(t):
        out = _strings(arr.cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False)) ^ name_hash(str(t))
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) \
            or pa.types.is_list_view(t) or pa.types.is_map(t):
        lengths = np.asarray(pc.list_value_length(arr).fill_null(0), dtype=np.int64)
        child = array_hash(pc.list_flatten(arr))
        starts = np.cumsum(lengths) - lengths
        position = np.arange(len(child), dtype=np.int64) - np.repeat(starts, lengths)
        out = mix64(_segment_sums(mix64(child + position.astype(np.uint64) * _POS), lengths)
                   ^ (lengths.astype(np.uint64) * _LEN))
    elif pa.types.is_struct(t):
        out = np.full(n, np.uint64(0x57), np.uint64)
        for i in range(t.num_fields):
            field = t.field(i)
            out = out + mix64(array_hash(pc.struct_field(arr, [i])) ^ name_hash(field.name))
        out = mix64(out)
    else:  # anything else: its text form (rare types; slower but exact)
        import json

        out = _strings(np.array([json.dumps(v, sort_keys=True, default=str) for v in arr.to_pylist()], dtype=object))
    if nulls is not None:
        out = np.where(nulls, _NULL, out)
    return out


def row_hashes(batch: pa.RecordBatch | pa.Table) -> np.ndarray:
    """One uint64 per row: the order-independent combination of (column name, value) hashes. A null
    value counts as an absent column, so a JSON line without a key equals one with the key set to null."""
    out = np.zeros(batch.num_rows, np.uint64)
    for name, column in zip(batch.schema.names, batch.columns):
        contrib = mix64(array_hash(column) ^ name_hash(name))
        if column.null_count:
            contrib = np.where(np.asarray(column.is_null(), dtype=bool), np.uint64(0), contrib)
        out = out + contrib
    return mix64(out)
