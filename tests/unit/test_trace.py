"""FrameTrace counts the frames realtime-py drops, for its own collector only."""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

from rtdata.trace import CLIENT_LOGGER, FrameTrace


def _drop_report() -> logging.LogRecord:
    return logging.LogRecord(
        CLIENT_LOGGER, logging.ERROR, __file__, 1, "Unrecognized message format %r", ("x",), None
    )


def test_a_trace_counts_only_the_drops_reported_on_its_sockets_thread() -> None:
    # Regression: every collector of a process counted every other collector's dropped frames
    # (realtime-py logs them all to one logger, without saying which client dropped them).
    seen: dict[str, list[str]] = {"a": [], "b": []}
    traces = {
        name: FrameTrace(0, lambda kind, _size, name=name: seen[name].append(kind)) for name in seen
    }

    # Both readers alive at once: a finished thread's id may be given to the next one.
    together = threading.Barrier(2, timeout=10)

    def reader(name: str) -> None:
        socket = SimpleNamespace(recv=None, send=None)
        traces[name].attach(socket)  # on the thread that reads the socket
        together.wait()
        for trace in traces.values():  # both filters see every record of the shared logger
            # The reader's own trace counts the drop and keeps the frame out of the log.
            assert trace.filter(_drop_report()) is (trace is not traces[name])
        together.wait()

    threads = [threading.Thread(target=reader, args=(name,)) for name in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": ["malformed frame"], "b": ["malformed frame"]}
    traces["a"].filter(_drop_report())  # this thread reads no socket of either
    assert seen["a"] == ["malformed frame"]
