"""The TF Serving REST predict API's request and response formats, checked strictly.

`POST /v1/models/<name>:predict` with a JSON object: optional "signature_name" (default
"serving_default" = recommend), and either "instances" (row format: one object per example, or bare
movie ids for the single-input movie signatures) or "inputs" (columnar: one batched list per input).
The reply is {"predictions": [...]} for instances and {"outputs": ...} for inputs; a signature with one
output gives its values directly, as TF Serving does. Every violation raises ApiError (a 4xx), never
reaches TensorFlow. Ragged history rows are padded with 0 (the padding id) to the longest row.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from export import signatures

HISTORY_INPUTS = tuple(t.name for t in signatures.HISTORY_INPUTS)
SIGNATURE_INPUTS = {name: signatures.input_names(name) for name in signatures.SIGNATURES}
MAX_BODY_BYTES = 4 << 20


class ApiError(Exception):
    """A request the API refuses: HTTP status, message, and optional JSON details."""

    def __init__(self, status: int, message: str, **details) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details

    def to_json(self) -> dict:
        return {"error": self.message, **self.details}


def _reject_constant(name: str) -> None:
    raise ApiError(400, f"malformed JSON: {name} is not a number")


def parse_json(body: bytes) -> object:
    """JSON text -> value; malformed JSON, NaN and Infinity are 400s, an oversized body a 413."""
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body over {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, f"malformed JSON: {error}") from None


def _integer(value: object, what: str, low: int = -(2**63)) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{what} must be an integer, got {json.dumps(value)[:40]}")
    if not low <= value < 2**63:
        raise ApiError(400, f"{what} must be an integer in {low}..2**63-1, got {value}")
    return value


def _rating(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ApiError(400, f"{what} must be a finite number, got {json.dumps(value)[:40]}")
    if not 0.0 <= value <= 5.0:
        raise ApiError(400, f"{what} must be between 0 (padding) and 5, got {value}")
    return float(value)


def _list(value: object, what: str) -> list:
    if not isinstance(value, list):
        raise ApiError(400, f"{what} must be a list, got {type(value).__name__}")
    return value


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Attributes: max_batch (examples a request), max_history (history entries an example)."""

    max_batch: int = 256
    max_history: int = 1000


def _history_rows(rows: list[dict], limits: RequestLimits) -> dict[str, np.ndarray]:
    """Checked history examples -> arrays [B, L] (0-padded) and [B]."""
    ids, ratings, stamps, times = [], [], [], []
    for b, row in enumerate(rows):
        where = f"instance {b}"
        movies = _list(row["history_movie_ids"], f"{where}: history_movie_ids")
        values = _list(row["history_ratings"], f"{where}: history_ratings")
        moments = _list(row["history_timestamps"], f"{where}: history_timestamps")
        if not movies:
            raise ApiError(400, f"{where}: the history is empty (use 0 ids for padding, one entry at least)")
        if len(movies) > limits.max_history:
            raise ApiError(400, f"{where}: history of {len(movies)} entries; at most {limits.max_history}")
        if not len(movies) == len(values) == len(moments):
            raise ApiError(400, f"{where}: history_movie_ids, history_ratings and history_timestamps differ in length")
        ids.append([_integer(v, f"{where}: history_movie_ids") for v in movies])
        ratings.append([_rating(v, f"{where}: history_ratings") for v in values])
        stamps.append([_integer(v, f"{where}: history_timestamps", 0) for v in moments])
        times.append(_integer(row["query_timestamp"], f"{where}: query_timestamp", 0))
    width = max(len(r) for r in ids)

    def pad(values: list[list], dtype: type) -> np.ndarray:
        out = np.zeros((len(values), width), dtype)
        for b, row in enumerate(values):
            out[b, : len(row)] = row
        return out

    return {
        "history_movie_ids": pad(ids, np.int64),
        "history_ratings": pad(ratings, np.float32),
        "history_timestamps": pad(stamps, np.int64),
        "query_timestamp": np.asarray(times, np.int64),
    }


def parse_predict(payload: object, limits: RequestLimits) -> tuple[str, str, dict[str, np.ndarray]]:
    """A decoded predict request -> (signature name, "instances" | "inputs", input arrays)."""
    if not isinstance(payload, dict):
        raise ApiError(400, "the request must be a JSON object with 'instances' or 'inputs'")
    signature = payload.get("signature_name", "serving_default")
    if signature not in SIGNATURE_INPUTS:
        raise ApiError(400, f"unknown signature_name {signature!r}", signatures=sorted(SIGNATURE_INPUTS))
    names = SIGNATURE_INPUTS[signature]
    if ("instances" in payload) == ("inputs" in payload):
        raise ApiError(400, "give exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    unexpected = set(payload) - {"signature_name", "instances", "inputs"}
    if unexpected:
        raise ApiError(400, f"unexpected keys {sorted(unexpected)}")
    form = "instances" if "instances" in payload else "inputs"
    if form == "instances":
        rows = _list(payload["instances"], "instances")
        if len(names) == 1:
            rows = [row if isinstance(row, dict) else {names[0]: row} for row in rows]
    else:
        columns = payload["inputs"]
        if len(names) == 1 and not isinstance(columns, dict):
            columns = {names[0]: columns}
        if not isinstance(columns, dict):
            raise ApiError(400, f"inputs must be an object with {list(names)}")
        _check_keys(columns, names, "inputs")
        batch = [len(_list(columns[n], f"inputs: {n}")) for n in names]
        if len(set(batch)) != 1:
            raise ApiError(400, f"inputs have different batch sizes {dict(zip(names, batch, strict=True))}")
        rows = [{n: columns[n][b] for n in names} for b in range(batch[0])]
    if not rows:
        raise ApiError(400, f"{form} is empty")
    if len(rows) > limits.max_batch:
        raise ApiError(400, f"{len(rows)} examples in one request; at most {limits.max_batch}")
    for b, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ApiError(400, f"instance {b} must be an object with {list(names)}")
        _check_keys(row, names, f"instance {b}")
    if names == HISTORY_INPUTS:
        return signature, form, _history_rows(rows, limits)
    return signature, form, {"movie_ids": np.asarray([_integer(r["movie_ids"], "movie_ids") for r in rows], np.int64)}


def _check_keys(row: dict, names: tuple[str, ...], where: str) -> None:
    missing, extra = set(names) - set(row), set(row) - set(names)
    if missing or extra:
        raise ApiError(
            400, f"{where}: missing inputs {sorted(missing)}, unexpected {sorted(extra)}", expected=list(names)
        )


def format_predict(outputs: dict[str, np.ndarray], form: str) -> dict:
    """Signature outputs -> the TF Serving reply for the request's format."""
    values = {name: np.asarray(v).tolist() for name, v in sorted(outputs.items())}
    if form == "inputs":
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    batch = len(next(iter(values.values())))
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    return {"predictions": [{name: v[b] for name, v in values.items()} for b in range(batch)]}
