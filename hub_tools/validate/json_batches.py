"""JSON rows to an Arrow table without losing keys: every key of every row becomes a column.

``pa.Table.from_pylist`` takes its columns from the first row only, so a key missing there is dropped
for the whole batch; here a row lacking a key gets null. A column whose values Arrow cannot hold in
one type (a number in one row, text in another) keeps each value's JSON text instead.
"""
from __future__ import annotations

import json

import pyarrow as pa


def rows_table(rows: list[dict]) -> pa.Table:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    columns = {}
    for k in keys:
        values = [r.get(k) for r in rows]
        try:
            columns[k] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            columns[k] = pa.array([None if v is None else json.dumps(v, sort_keys=True, ensure_ascii=False)
                                   for v in values], pa.large_string())
    return pa.table(columns) if columns else pa.table({"_": pa.nulls(len(rows))}).drop_columns(["_"])
