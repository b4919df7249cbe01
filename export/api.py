"""The HTTP API of an export (Starlette): TF Serving's REST predict API plus plain JSON endpoints.

    GET  /                                         a page to try it (export/web/index.html; no network needed)
    GET  /search?q=toy&limit=10                    movies whose title holds the text
    GET  /healthz                                  status, model name, index, catalog size, K
    GET  /v1/models/<name>                         TF Serving model status
    POST /v1/models/<name>:predict                 TF Serving predict ("instances" or "inputs")
    GET  /recommend?history=1:5,260:4.5&k=10[&query_time=T]   explained recommendations
    GET  /similar/<movieId>?k=10                   nearest movies

Every refused request gets a 4xx with a JSON body {"error": ...}; an unexpected failure a JSON 500. The
server process never exits on input: TensorFlow runs in a worker thread behind the checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from export.bundle import Export, parse_history
from export.config import ServeConfig
from export.predict import ApiError, RequestLimits, format_predict, parse_json, parse_predict

PAGE = Path(__file__).parent / "web" / "index.html"
MAX_SEARCH_TEXT = 200


def _int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be in {low}..{high}, got {value}")
    return value


def create_app(export: Export, config: ServeConfig) -> Starlette:
    """The Starlette application serving `export` under `config`'s name and limits."""
    limits = RequestLimits(max_batch=config.max_batch, max_history=config.max_history)
    signatures = export.model.signatures

    def check_known(movie_ids: np.ndarray) -> None:
        ids = np.unique(movie_ids[movie_ids != 0])
        unknown = export.unknown(ids.tolist())
        if unknown:
            raise ApiError(400, "unknown movie ids", unknown_movie_ids=unknown[:50])

    def check_model(request: Request) -> None:
        if request.path_params["name"] != config.model_name:
            raise ApiError(
                404, f"no model named {request.path_params['name']!r}; this server has {config.model_name!r}"
            )

    page = PAGE.read_text(encoding="utf-8")

    async def index_page(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    async def search(request: Request) -> JSONResponse:
        text = request.query_params.get("q", "")
        if len(text) > MAX_SEARCH_TEXT:
            raise ApiError(400, f"q of {len(text)} characters; at most {MAX_SEARCH_TEXT}")
        limit = _int_param(request, "limit", 10, 1, 100)
        return JSONResponse({"movies": export.search(text, limit)})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "model": config.model_name,
                "index": export.index,
                "movies": len(export.dense),
                "k": export.k,
            }
        )

    async def model_status(request: Request) -> JSONResponse:
        if request.path_params["name"].endswith(":predict"):  # the predict path, with GET
            raise ApiError(405, "Method Not Allowed: predict takes POST")
        check_model(request)
        return JSONResponse(
            {
                "model_version_status": [
                    {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                ]
            }
        )

    async def predict(request: Request) -> JSONResponse:
        check_model(request)
        signature, form, inputs = parse_predict(parse_json(await request.body()), limits)
        check_known(inputs["history_movie_ids" if "history_movie_ids" in inputs else "movie_ids"])

        def run() -> dict:
            outputs = signatures[signature](**{n: tf.constant(v) for n, v in inputs.items()})
            return {name: t.numpy() for name, t in outputs.items()}

        return JSONResponse(format_predict(await run_in_threadpool(run), form))

    async def recommend(request: Request) -> JSONResponse:
        text = request.query_params.get("history", "")
        try:
            history = parse_history(text)
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        if len(history) > limits.max_history:
            raise ApiError(400, f"history of {len(history)} movies; at most {limits.max_history}")
        k = _int_param(request, "k", 10, 1, export.k)
        query_time = _int_param(request, "query_time", None, 0, 2**62)
        check_known(np.array([m for m, _ in history], np.int64))
        results = await run_in_threadpool(export.recommend, history, k, query_time)
        return JSONResponse({"k": k, "index": export.index, "recommendations": [r.to_json() for r in results]})

    async def similar(request: Request) -> JSONResponse:
        text = request.path_params["movie_id"]
        try:
            movie_id = int(text)
        except ValueError:
            raise ApiError(400, f"movieId must be an integer, got {text[:40]!r}") from None
        if export.unknown([movie_id]):
            raise ApiError(404, f"unknown movieId {movie_id}")
        k = _int_param(request, "k", 10, 1, export.k)
        results = await run_in_threadpool(export.similar, movie_id, k)
        return JSONResponse(
            {
                "movie": export.movie(movie_id),
                "k": k,
                "similar": [r.to_json() for r in results],
            }
        )

    async def api_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return JSONResponse(error.to_json(), status_code=error.status)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)

    async def tf_error(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            {"error": f"the model refused the input: {getattr(error, 'message', error)}"}, status_code=400
        )

    async def server_error(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {type(error).__name__}"}, status_code=500)

    routes = [
        Route("/", index_page, methods=["GET"]),
        Route("/search", search, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/v1/models/{name}:predict", predict, methods=["POST"]),
        Route("/v1/models/{name}", model_status, methods=["GET"]),
        Route("/recommend", recommend, methods=["GET"]),
        Route("/similar/{movie_id}", similar, methods=["GET"]),
    ]
    handlers = {
        ApiError: api_error,
        HTTPException: http_error,
        tf.errors.InvalidArgumentError: tf_error,
        Exception: server_error,
    }
    return Starlette(routes=routes, exception_handlers=handlers)
