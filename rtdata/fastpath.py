"""Optional fast decode path for postgres_changes frames (``[connection] fast_decode``).

realtime-py validates every incoming frame with a pydantic union of all message types and
formats it twice for debug logs it does not emit; that is most of its per-frame cost. With
the fast path on, the collector still uses the official client for the connection, joins,
heartbeats, presence, broadcast, replies and errors, but decodes postgres_changes frames
itself: one ``orjson.loads`` and the structural checks below, which accept exactly the frames
realtime-py's ``PostgresChangesMessage`` accepts. Accepted frames go straight to the
channel's postgres_changes callbacks, matched by binding id and event as realtime-py does;
every other frame (including anything malformed) is handed to realtime-py unchanged, so
errors are reported the same way either path.

:func:`change_frame` is pure; :func:`attach` wraps a websocket's ``recv``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson

__all__ = ["attach", "change_frame"]

_MARKER: Final = '"postgres_changes"'
_OPS: Final = frozenset({"INSERT", "UPDATE", "DELETE"})
_DATA_STRINGS: Final = ("schema", "table", "commit_timestamp")


def change_frame(text: str) -> tuple[str, dict[str, Any]] | None:
    """Return ``(topic, payload)`` of a postgres_changes frame, or ``None`` for anything else.

    ``payload`` is what realtime-py would pass to a postgres_changes callback:
    ``{"data": {...}, "ids": [...]}``. ``None`` means "let realtime-py decide": another kind
    of frame, or one realtime-py would reject (it logs and drops those).

    The checks mirror realtime-py's model: ``ref`` null; ``ids`` a list of integers;
    ``data`` with string ``schema``, ``table`` and ``commit_timestamp``, ``type`` one of
    INSERT/UPDATE/DELETE, ``columns`` a list of ``{name, type}`` strings, ``errors`` null, a
    string or a list of strings, and ``record``/``old_record`` objects when present.
    """
    if _MARKER not in text:
        return None
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(frame) is not dict or frame.get("event") != "postgres_changes":
        return None
    topic, payload = frame.get("topic"), frame.get("payload")
    if type(topic) is not str or frame.get("ref", 0) is not None or type(payload) is not dict:
        return None
    ids, data = payload.get("ids"), payload.get("data")
    if type(ids) is not list or type(data) is not dict:
        return None
    if not all(type(i) is int for i in ids):
        return None
    op = data.get("type")
    if type(op) is not str or op not in _OPS:
        return None
    if not all(type(data.get(k)) is str for k in _DATA_STRINGS):
        return None
    if not _valid_errors(data.get("errors", 0)) or not _valid_columns(data.get("columns")):
        return None
    for name in ("record", "old_record"):
        if name in data and not (data[name] is None or type(data[name]) is dict):
            return None
    if "old_record" in data and data["old_record"] is None:
        return None  # realtime-py's model allows null only for record
    return topic, payload


def _valid_errors(errors: Any) -> bool:
    if errors is None or type(errors) is str:
        return True
    return type(errors) is list and all(type(e) is str for e in errors)


def _valid_columns(columns: Any) -> bool:
    if type(columns) is not list:
        return False
    for column in columns:
        if type(column) is not dict:
            return False
        if type(column.get("name")) is not str or type(column.get("type")) is not str:
            return False
    return True


def attach(
    ws: Any,
    callbacks: Callable[[str], Sequence[Any] | None],
    on_error: Callable[[Exception], None],
) -> None:
    """Serve postgres_changes frames of websocket ``ws`` from the fast path.

    Args:
        ws: A ``websockets`` connection that realtime-py reads with ``async for`` (which calls
            ``ws.recv()``); its ``recv`` is wrapped, after any trace already attached.
        callbacks: Topic → that channel's postgres_changes callbacks, or ``None`` for a topic
            realtime-py does not know (:func:`rtdata.link.change_callbacks`), called per
            frame so channels joined later are served too.
        on_error: Called with any exception a callback raises; the frame is then consumed.
    """
    receive = ws.recv

    async def fast_recv(*args: Any, **kwargs: Any) -> Any:
        while True:
            message = await receive(*args, **kwargs)
            if type(message) is not str:
                return message
            found = change_frame(message)
            if found is None:
                return message
            bound = callbacks(found[0])
            if bound is None:
                return message  # realtime-py ignores unknown topics; keep its behaviour
            payload = found[1]
            try:
                for callback in bound:
                    callback(payload)  # matches binding id and event, as realtime-py does
            except Exception as exc:
                on_error(exc)

    ws.recv = fast_recv
