"""Run the official supabase-js client (``tests/js/client.mjs``) as a child process in tests.

The script prints one JSON object a line; :class:`JsProcess` collects them on a reader thread and
lets a test wait for a line that matches, with a timeout and never a fixed sleep::

    with run_js({"kind": "presence", "url": server.url, "key": server.anon_key}, 20) as js:
        js.wait_for_line(lambda line: line.get("status") == "SUBSCRIBED", 10)

Install the JavaScript dependencies once with ``npm ci --prefix tests/js``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from tests import support

JS_DIR = Path(__file__).parent / "js"
CLIENT_SCRIPT = JS_DIR / "client.mjs"

Line = dict[str, Any]


def js_available() -> bool:
    """Whether ``node`` is on PATH and ``tests/js/node_modules`` holds supabase-js and ws."""
    modules = JS_DIR / "node_modules"
    return (
        shutil.which("node") is not None
        and (modules / "@supabase" / "supabase-js" / "package.json").is_file()
        and (modules / "ws" / "package.json").is_file()
    )


class JsProcess:
    """A running ``client.mjs``: its stdout lines as parsed JSON, and a clean stop.

    Lines that are not JSON are kept as ``{"raw": text}``. The reader threads end when the
    process closes its pipes; :meth:`close` (or leaving the ``with`` block) stops the process,
    joins the threads and closes every pipe.
    """

    def __init__(self, scenario: Line, timeout_s: float) -> None:
        """Start the script; ``timeout_s`` (scaled) also bounds its own run (``timeout_ms``)."""
        self.timeout_s = support.timeout_s(timeout_s)
        self.scenario = {"timeout_ms": int(self.timeout_s * 1000), **scenario}
        self._lines: list[Line] = []
        self._stderr: list[str] = []
        # Guards _lines, _stderr and _stdout_closed; notified on each new line and at stdout EOF.
        self._changed = threading.Condition()
        self._stdout_closed = False
        # Leaving the stack runs Popen.__exit__, which closes both pipes and reaps the process.
        self._stack = ExitStack()
        self._proc = self._stack.enter_context(
            subprocess.Popen(
                ["node", str(CLIENT_SCRIPT), json.dumps(self.scenario)],
                cwd=JS_DIR,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
            )
        )
        assert self._proc.stdout is not None
        assert self._proc.stderr is not None
        self._readers = [
            threading.Thread(
                target=self._read_stdout, args=(self._proc.stdout,), name="jsclient-stdout"
            ),
            threading.Thread(
                target=self._read_stderr, args=(self._proc.stderr,), name="jsclient-stderr"
            ),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self, stream: IO[str]) -> None:
        for text in stream:
            text = text.rstrip("\n")
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                line = {"raw": text}
            if not isinstance(line, dict):
                line = {"raw": text}
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._stdout_closed = True
            self._changed.notify_all()

    def _read_stderr(self, stream: IO[str]) -> None:
        for text in stream:
            with self._changed:
                self._stderr.append(text.rstrip("\n"))

    @property
    def lines(self) -> list[Line]:
        """A copy of every stdout line so far, in order."""
        with self._changed:
            return list(self._lines)

    @property
    def stderr(self) -> str:
        """What the script wrote to stderr so far."""
        with self._changed:
            return "\n".join(self._stderr)

    @property
    def returncode(self) -> int | None:
        """The exit code, or ``None`` while the script runs."""
        return self._proc.poll()

    def wait_for_line(self, predicate: Callable[[Line], bool], timeout: float = 10.0) -> Line:
        """Return the first line, past or future, for which ``predicate`` holds.

        Args:
            predicate: Called with each parsed line; must not raise on unexpected shapes.
            timeout: Seconds to wait, scaled by ``RTDATA_TEST_TIMEOUT_SCALE``.

        Raises:
            AssertionError: No such line before the timeout or before the script ended; the
                message carries every line and the script's stderr.
        """
        deadline = time.monotonic() + support.timeout_s(timeout)
        seen = 0
        with self._changed:
            while True:
                for line in self._lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self._lines)
                remaining = deadline - time.monotonic()
                if self._stdout_closed or remaining <= 0:
                    why = "the script ended" if self._stdout_closed else "timed out"
                    raise AssertionError(f"{why} before the expected line\n{self._report()}")
                self._changed.wait(remaining)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the script to exit on its own; then :attr:`lines` is complete.

        Args:
            timeout: Seconds (scaled); by default a little more than the script's own limit.

        Returns:
            The exit code: 0 after ``DONE``, 2 after ``TIMEOUT``, 3 after ``FAILED``.
        """
        limit = support.timeout_s(timeout) if timeout is not None else self.timeout_s + 5
        try:
            code = self._proc.wait(limit)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the script did not exit\n{self._report()}") from None
        for reader in self._readers:
            reader.join(support.timeout_s(5))
        return code

    def close(self) -> None:
        """Stop the script if it still runs, then join the readers and close the pipes."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(support.timeout_s(5))
            except subprocess.TimeoutExpired:
                self._proc.kill()
        # The readers end at EOF, which the exited process guarantees; then close the pipes.
        for reader in self._readers:
            reader.join(support.timeout_s(5))
        self._stack.close()

    def _report(self) -> str:
        lines = "\n".join(json.dumps(line) for line in self._lines)
        return f"exit code: {self._proc.poll()}\nstdout:\n{lines}\nstderr:\n" + "\n".join(
            self._stderr
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run_js(scenario: Line, timeout_s: float) -> JsProcess:
    """Start ``node tests/js/client.mjs`` with ``scenario``; use the result in a ``with`` block.

    Args:
        scenario: The scenario object (see the header of ``tests/js/client.mjs``).
        timeout_s: The script gives up and exits after this many seconds.
    """
    return JsProcess(scenario, timeout_s)
