"""The studio's web app (Starlette): the page, the JSON API and the live event stream.

Every API answer is JSON; bad input gets a 4xx whose ``error`` names the field, the
expected and the received value, never a traceback (an unexpected failure is logged and
answered with a 500 that says so).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import threading

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import optimizers
from . import _data, _inspect, _params, _spec
from ._downloads import Downloads
from ._errors import StudioError
from ._runs import RunManager, bucket_means
from ._security import LOOPBACK, Guard

log = logging.getLogger("fastmlp.studio")
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
EVENT_PERIOD = 0.2  # seconds between event-stream updates
EVENT_POINTS = 500  # batch points per update at most (bucket means beyond)


async def _body(request) -> dict:
    return _params.parse_json(await request.body())


def _model_from(body, root, seed=None):
    """dataset + layers -> (checked layers, dataset description, built model)."""
    ds = _data.describe(body.get("dataset", "sample"), root)
    specs = _spec.parse_layers(body.get("layers"))
    model = _spec.build_model(specs, ds["input_shape"], seed=seed)
    return specs, ds, model


def _check_fits(model, ds, optimizer, root):
    """compile + one evaluate row with the largest label: the API's own messages for a loss
    or output that does not fit the data (e.g. fewer output units than classes)."""
    (xtr, ytr), _ = _data.load(ds["name"], root)
    try:
        model.compile(optimizer=optimizer, loss=_spec.LOSS, metrics=["accuracy"])
        i = int(ytr.argmax())
        model.evaluate(xtr[i:i + 1], ytr[i:i + 1])
    except (TypeError, ValueError) as exc:
        raise StudioError(f"model: {exc}", field="layers") from None


def create_app(data_dir, token=None, allowed_hosts=LOOPBACK, mirrors=None) -> Starlette:
    """The ASGI app; ``token`` (default: a fresh random one) is needed by every API call;
    ``mirrors``: where the Download button fetches datasets from (see :mod:`._downloads`)."""
    token = token or secrets.token_urlsafe(24)
    runs = RunManager(data_dir)
    root = os.path.abspath(os.path.join(data_dir, "datasets"))
    downloads = Downloads(root, mirrors)
    closing = threading.Event()  # set by the command's Ctrl-C: event streams end

    async def index(request):
        return FileResponse(os.path.join(STATIC, "index.html"))

    async def info(request):
        return JSONResponse({"layers": _spec.catalogue(), "activations": _spec.activations(),
                             "optimizers": list(optimizers.NAMES),
                             "limits": {"max_params": _spec.MAX_PARAMS,
                                        "max_batch_size": _params.MAX_BATCH,
                                        "max_epochs": _params.MAX_EPOCHS}})

    async def datasets(request):
        listing = await asyncio.to_thread(_data.listing, root)
        for d in listing:
            d["download"] = downloads.state(d["name"])
        return JSONResponse({"datasets": listing})

    async def dataset(request):
        return JSONResponse(await asyncio.to_thread(_data.describe, request.path_params["name"],
                                                    root))

    async def download(request):
        name = request.path_params["name"]
        state, started = await asyncio.to_thread(downloads.start, name)
        if started:
            return JSONResponse(state, 202)
        return JSONResponse({"error": f"dataset {name!r} is already downloading "
                                      f"({state['done']} of {state['total']} bytes; its "
                                      f"progress: GET /api/datasets/{name}/download)",
                             "download": state}, 409)

    async def download_state(request):
        name = _data.check_name(request.path_params["name"])
        state = downloads.state(name)
        if state is None:
            raise StudioError(f"dataset {name!r}: no download was started", 404,
                              field="dataset")
        return JSONResponse(state)

    async def validate(request):
        body = await _body(request)
        try:
            specs, ds, model = await asyncio.to_thread(_model_from, body, root, 0)
            await asyncio.to_thread(_check_fits, model, ds, "adam", root)
        except StudioError as exc:  # a model that does not fit is a result, not a failure
            return JSONResponse({"ok": False, **exc.as_json()}, exc.status)
        return JSONResponse({"ok": True, "summary": _spec.summary(model)})

    async def start(request):
        body = await _body(request)
        ds = await asyncio.to_thread(_data.describe, body.get("dataset", "sample"), root)
        params = _params.train_params(body, ds["n_train"])
        specs, ds, model = await asyncio.to_thread(_model_from, body, root, params["seed"])
        opt = _spec.make_optimizer(params["optimizer"], params["learning_rate"])
        await asyncio.to_thread(_check_fits, model, ds, opt, root)
        record = {"dataset": ds["name"], "input_shape": ds["input_shape"],
                  "layers": [dict(type=t, **kw) for t, kw in specs], "params": params,
                  "summary": _spec.summary(model)}
        data = _data.load(ds["name"], root)
        run = runs.start(record, model, data)
        return JSONResponse(run.public(), 202)

    async def listing(request):
        return JSONResponse({"runs": runs.listing(), "active": runs.active()})

    def _run(request):
        return runs.get(_params.run_id(request.path_params["run_id"]))

    async def one(request):
        return JSONResponse(_run(request).public(full=True))

    async def stop(request):
        return JSONResponse(runs.stop(_run(request).id).public())

    async def events(request):
        run = _run(request)

        async def stream():
            cursor, sent_epochs = 0, 0
            while True:
                finished = run.done.is_set()  # read before the lists: nothing is missed
                n, m = len(run.batch), len(run.epochs)
                update = {"status": run.record["status"] if finished else "training",
                          "batch": bucket_means(run.batch, cursor, n, EVENT_POINTS),
                          "epochs": run.epochs[sent_epochs:m]}
                cursor, sent_epochs = n, m
                if finished:
                    update["run"] = run.public()
                yield f"event: update\ndata: {json.dumps(update)}\n\n"
                if finished or closing.is_set() or await request.is_disconnected():
                    return
                await asyncio.sleep(EVENT_PERIOD)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    async def inspect(request):
        run = _run(request)
        return JSONResponse(await asyncio.to_thread(_inspect.inspect, run,
                                                    dict(request.query_params), root))

    async def export(request):
        run = _run(request)
        kind = request.path_params["kind"]
        if kind == "code":
            return Response(_spec.python_code(run.record), media_type="text/x-python",
                            headers=_attachment(f"studio-{run.id}.py"))
        if kind not in ("model", "onnx"):
            raise StudioError(f"export: expected model, onnx or code, got {kind!r}", 404,
                              field="kind")
        if run.record["status"] not in ("done", "stopped"):
            raise StudioError(f"run {run.id} has no trained model (it is "
                              f"{run.record['status']})", 409)
        if kind == "model":
            return FileResponse(run.model_path, media_type="application/octet-stream",
                                filename=f"studio-{run.id}.npz")
        try:
            proto = await asyncio.to_thread(run.get_model().to_onnx)
        except ImportError:
            raise StudioError('ONNX export needs the onnx package: pip install "fastmlp[onnx]"',
                              501) from None
        return Response(proto.SerializeToString(), media_type="application/octet-stream",
                        headers=_attachment(f"studio-{run.id}.onnx"))

    async def studio_error(request, exc):
        return JSONResponse(exc.as_json(), exc.status)

    async def http_error(request, exc):
        return JSONResponse({"error": exc.detail}, exc.status_code)

    async def unexpected(request, exc):
        log.exception("internal error on %s", request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server "
                                      "log has the details"}, 500)

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/datasets", datasets),
        Route("/api/datasets/{name}", dataset),
        Route("/api/datasets/{name}/download", download_state),
        Route("/api/datasets/{name}/download", download, methods=["POST"]),
        Route("/api/validate", validate, methods=["POST"]),
        Route("/api/runs", listing),
        Route("/api/runs", start, methods=["POST"]),
        Route("/api/runs/{run_id}", one),
        Route("/api/runs/{run_id}/stop", stop, methods=["POST"]),
        Route("/api/runs/{run_id}/events", events),
        Route("/api/runs/{run_id}/inspect", inspect),
        Route("/api/runs/{run_id}/export/{kind}", export),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await asyncio.to_thread(runs.shutdown)  # a training thread must not outlive Python
        await asyncio.to_thread(downloads.shutdown)  # nor a half-written download

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        StudioError: studio_error, HTTPException: http_error, Exception: unexpected})
    guarded = Guard(app, token, allowed_hosts)
    guarded.runs, guarded.closing, guarded.downloads = runs, closing, downloads  # for the command line and the tests
    return guarded


def _attachment(name):
    return {"Content-Disposition": f'attachment; filename="{name}"'}
