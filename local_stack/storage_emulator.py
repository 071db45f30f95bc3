"""The Cloud Storage emulator of the local stack: ``gcp-storage-emulator`` plus what it lacks.

    .venv/bin/python -m local_stack.storage_emulator --port 8295 --data-dir .local/storage \\
        --state-dir .local --project payouts-local --bucket B1 --bucket B2 [--trigger BUCKET=URL …]

gcp-storage-emulator (PyPI, a stub of the JSON API) creates buckets, uploads (media, multipart,
resumable), downloads, lists by prefix and deletes, but ignores preconditions: an upload with
``ifGenerationMatch=0`` overwrites an existing object, where Cloud Storage answers 412. The
adapter's create-if-absent relies on that 412, so this wrapper checks ``ifGenerationMatch`` and
``ifGenerationNotMatch`` of every upload, copy, rewrite and compose before the emulator runs it
(one lock: the check and the write are one step). It also:

- binds 127.0.0.1 only, and creates the buckets named with ``--bucket`` at start;
- tells the Eventarc stand-in (local_stack/eventarc.py) about every object it finalizes, which
  delivers ``google.cloud.storage.object.v1.finalized`` CloudEvents to the ``--trigger`` targets.

Still missing (and not relied on): reading an older generation (downloads return the live one),
object holds and retention policies, IAM, notifications other than finalize, and batch requests
that create objects do not raise finalize events.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from gcp_storage_emulator import server as emulator
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import buckets, objects

from local_stack.eventarc import Eventarc, Trigger

log = logging.getLogger("storage-emulator")

Handler = Callable[..., Any]
Finalized = Callable[[dict[str, Any]], None]
_lock = threading.RLock()

PRECONDITION_FAILED = {
    "error": {
        "code": 412,
        "message": "At least one of the pre-conditions you specified did not hold.",
        "errors": [{"reason": "conditionNotMet", "domain": "global", "locationType": "header"}],
    }
}


def _target(handler: Handler, request: Any, storage: Any) -> tuple[str, str] | None:
    """The (bucket, object) a creating request writes."""
    params = request.params or {}
    if handler in (objects.copy, objects.rewrite):
        return params["dest_bucket_name"], params["dest_object_id"]
    if handler in (objects.compose, objects.xml_upload):
        return params["bucket_name"], params["object_id"]
    if "upload_id" in request.query:
        try:
            obj = storage.get_resumable_file_obj(request.query["upload_id"][0])
        except NotFound:
            return None
        return obj["bucket"], obj["name"]
    if "name" in request.query:
        return params["bucket_name"], request.query["name"][0]
    data = request.data
    if isinstance(data, dict):
        meta = data.get("meta", data)
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            return params["bucket_name"], meta["name"]
    return None


def _generation(storage: Any, target: tuple[str, str] | None) -> int:
    if target is None:
        return 0
    try:
        return int(storage.get_file_obj(*target)["generation"])
    except NotFound:
        return 0


def _holds(request: Any, current: int) -> bool:
    """Whether the request's generation preconditions hold for an object at ``current`` (0: none)."""
    match, not_match = request.query.get("ifGenerationMatch"), request.query.get("ifGenerationNotMatch")
    try:
        if match and int(match[0]) != current:
            return False
        if not_match and int(not_match[0]) == current:
            return False
    except ValueError:
        return False
    return True


def _creating(handler: Handler, finalized: Finalized) -> Handler:
    def wrapped(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            target = _target(handler, request, storage)
            before = _generation(storage, target)
            if not _holds(request, before):
                response.status = HTTPStatus.PRECONDITION_FAILED
                response.json(PRECONDITION_FAILED)
                return None
            result = handler(request, response, storage, *args, **kwargs)
            after = _generation(storage, target)
            if target is not None and after and after != before and response.status == HTTPStatus.OK:
                finalized(dict(storage.get_file_obj(*target)))
        return result

    wrapped.__name__ = getattr(handler, "__name__", "handler")
    return wrapped


def install(finalized: Finalized) -> None:
    """Wrap the emulator's creating handlers (its routing table and the upload fallback)."""
    creating = {
        objects.insert,
        objects.upload_partial,
        objects.xml_upload,
        objects.copy,
        objects.rewrite,
        objects.compose,
    }
    wrapped = {h: _creating(h, finalized) for h in creating}
    emulator.HANDLERS = tuple(
        (pattern, {method: wrapped.get(h, h) for method, h in routes.items()})
        for pattern, routes in emulator.HANDLERS
    )
    objects.insert = wrapped[objects.insert]  # the router's fallback for uploads without /upload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.storage_emulator", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, default=None, help="objects on disk (default: in memory)")
    parser.add_argument("--state-dir", type=Path, required=True, help="holds the local issuer's key")
    parser.add_argument("--project", required=True)
    parser.add_argument("--bucket", action="append", default=[], help="created at start (repeat)")
    parser.add_argument("--trigger", action="append", default=[], help="BUCKET=URL: Eventarc finalize target")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
    triggers = [Trigger(bucket, url) for bucket, _, url in (t.partition("=") for t in args.trigger)]
    eventarc = Eventarc(triggers, args.state_dir, args.project)
    install(eventarc.finalized)
    in_memory = args.data_dir is None
    server = emulator.create_server(
        args.host, args.port, in_memory, data_dir=str(args.data_dir) if args.data_dir else None
    )
    for name in args.bucket:
        buckets.create_bucket(name, server._storage)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    log.info(
        "storage emulator on http://%s:%d, buckets %s, triggers %s",
        args.host,
        args.port,
        ", ".join(args.bucket) or "-",
        json.dumps({t.bucket: t.url for t in triggers}),
    )
    stop.wait()
    server.stop()
    eventarc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
