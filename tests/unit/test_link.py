"""The typed link: how connect and join failures are classified, which realtime-py versions the
adapter supports, and that the supervisor decides from types, never from an error's text."""

from __future__ import annotations

import ast
import inspect
import json
from importlib.metadata import version

import pytest
from realtime import RealtimeSubscribeStates
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from rtdata import link, supervisor
from rtdata.link import LinkLost, LossKind

TOPIC = "realtime:rtdata-tables"


def _http(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, "x", Headers(), b""))


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "refused"), (403, "refused"), (500, "transient")]
)
def test_a_refused_handshake_is_refused_and_a_server_error_transient(
    status: int, kind: str
) -> None:
    lost = link.connect_failure(_http(status))
    assert lost.kind == LossKind(kind)
    assert str(status) in lost.detail


def test_network_errors_are_transient() -> None:
    assert link.connect_failure(ConnectionRefusedError(111, "refused")).kind is LossKind.TRANSIENT
    assert link.connect_failure(TimeoutError()).kind is LossKind.TRANSIENT


def _error(payload: object) -> Exception:
    return Exception(json.dumps(payload))  # how realtime-py hands over a refused join


@pytest.mark.parametrize(
    "reason",
    [
        "Unauthorized: You do not have permissions to read from this Channel topic: x",
        "InvalidJWTToken: Token has expired 3 seconds ago",
        "TopicNameRequired: You must provide a topic name",
        "MalformedJoinPayload: config must be an object",
    ],
)
def test_join_refusals_by_code(reason: str) -> None:
    error = _error({"reason": reason})
    lost = link.join_failure(TOPIC, RealtimeSubscribeStates.CHANNEL_ERROR, error)
    assert lost.kind is LossKind.REFUSED
    assert reason in lost.detail


def test_a_postgres_changes_system_error_is_refused() -> None:
    error = _error(
        {
            "extension": "postgres_changes",
            "status": "error",
            "message": "Unable to subscribe to changes with given parameters.",
        }
    )
    lost = link.join_failure(TOPIC, RealtimeSubscribeStates.CHANNEL_ERROR, error)
    assert lost.kind is LossKind.REFUSED


@pytest.mark.parametrize(
    ("state", "error"),
    [
        (RealtimeSubscribeStates.TIMED_OUT, None),
        (RealtimeSubscribeStates.CLOSED, None),
        # A word that merely appears in a transient reason does not make it a refusal.
        (
            RealtimeSubscribeStates.CHANNEL_ERROR,
            _error({"reason": "UnableToConnectToProject: Unauthorized later?"}),
        ),
        (
            RealtimeSubscribeStates.CHANNEL_ERROR,
            _error({"reason": "ChannelRateLimitReached: too many"}),
        ),
        (
            RealtimeSubscribeStates.CHANNEL_ERROR,
            Exception("mismatch between server and client bindings"),
        ),
        (RealtimeSubscribeStates.CHANNEL_ERROR, _error(["not", "an", "object"])),
    ],
)
def test_other_join_failures_are_transient(
    state: RealtimeSubscribeStates, error: Exception | None
) -> None:
    assert link.join_failure(TOPIC, state, error).kind is LossKind.TRANSIENT


def test_link_lost_is_an_exception_whose_text_is_its_detail() -> None:
    lost = LinkLost(LossKind.STALE, "stale: no probe reply")
    assert isinstance(lost, Exception)
    assert str(lost) == "stale: no probe reply"


def test_the_installed_realtime_py_is_one_the_adapter_supports() -> None:
    installed = version("realtime")
    assert link.supported(installed), (
        f"realtime-py {installed} is not one of {link.SUPPORTED_REALTIME}: rtdata.link reaches "
        "into its private attributes (_ws_connection, channels, postgres_changes_callbacks) and "
        "the JSON of a refused join; check each against this version, then add it to "
        "SUPPORTED_REALTIME"
    )
    assert not link.supported("2.33.0")


def test_the_supervisor_decides_from_types_not_from_text() -> None:
    """No ``"..." in text`` and no ``.startswith``-style look at a message in the supervisor."""
    tree = ast.parse(inspect.getsource(supervisor))
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) for op in node.ops
        ):
            assert not isinstance(node.left, ast.Constant), ast.unparse(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in {"startswith", "endswith", "find", "search", "match"}, (
                ast.unparse(node)
            )


def test_only_the_adapter_touches_realtime_py_internals() -> None:
    """``_ws_connection`` and ``postgres_changes_callbacks`` appear in rtdata.link alone."""
    import pathlib

    import rtdata

    root = pathlib.Path(rtdata.__file__).parent
    for path in root.rglob("*.py"):
        if path.name == "link.py" and path.parent == root:
            continue
        text = path.read_text()
        for private in ("._ws_connection", ".postgres_changes_callbacks"):
            assert private not in text, (
                f"{path.relative_to(root)} reaches into realtime-py: {private}"
            )
