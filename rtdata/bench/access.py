"""``access``: what sign-in adds to a page render, beside the same render without it, in one run.

The router (:data:`rtdata.dashboard.APP`, whose gate decides who sees what) renders the hospital
pack's first page in Streamlit's AppTest, with the pack's stream buffered, alternately:

- open: no ``[access]`` (the baseline);
- signed in: ``[access] require_sign_in = true``, with a session signed in as an admin whose
  access token is far from expiry, so no refresh is due (a refresh is one call to GoTrue a
  minute before expiry, not part of a render).

Each run starts from an empty view cache (:func:`rtdata.bench.pages.forget_views`), and the two
alternate, so the machine's load falls on both alike. The time is of ``AppTest.run`` as a whole
(the router, the gate and the page), the p50 of ``runs`` renders each.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from rtdata.bench.common import Figure

__all__ = ["bench_access"]


def bench_access(events: int = 100_000, runs: int = 15) -> list[Figure]:
    """Render the router's first page ``runs`` times open and ``runs`` times signed in."""
    from streamlit.testing.v1 import AppTest

    from rtdata import ui
    from rtdata.access import AccessConfig
    from rtdata.bench import stream
    from rtdata.bench.pages import forget_views
    from rtdata.dashboard import APP
    from rtdata.signin import SignedIn

    recorder = stream.recorder(stream.pack_config(""))
    stream.fill(recorder, events)
    open_settings = recorder.settings
    gated = dataclasses.replace(open_settings.config, access=AccessConfig(require_sign_in=True))
    signed_settings = dataclasses.replace(open_settings, config=gated, tables=None).with_project(
        "http://127.0.0.1:9", "bench-service-key", "bench-anon-key"
    )
    admin = SignedIn(
        email="admin@bench.test",
        user_id="00000000-0000-4000-8000-000000000001",
        claims={"sub": "1", "role": "authenticated", "app_metadata": {"role": "admin"}},
        expires_at_s=time.time() + 3600,
        access_token="bench-access",
        refresh_token="bench-refresh",
    )
    times: dict[bool, list[float]] = {False: [], True: []}
    ui.use_recorder(recorder)
    try:
        for i in range(runs + 1):  # the first round imports and warms what every later reuses
            for signed in (False, True):
                recorder.settings = signed_settings if signed else open_settings
                app = AppTest.from_file(str(APP), default_timeout=120)
                if signed:
                    app.session_state["rtdata_signed_in"] = admin
                forget_views()
                start = time.perf_counter()
                app.run()
                elapsed_ms = (time.perf_counter() - start) * 1000
                if app.exception:
                    raise RuntimeError(f"the router raised: {app.exception[0].message}")
                if signed and any(t.value == "Sign in" for t in app.title):
                    raise RuntimeError("the signed-in render drew the sign-in form")
                if i:
                    times[signed].append(elapsed_ms)
    finally:
        recorder.settings = open_settings
        ui.use_recorder(None)
    open_ms, signed_ms = (float(np.median(times[s])) for s in (False, True))
    size = f"{events:,}"
    return [
        Figure(
            "access.render_open_p50_ms",
            open_ms,
            "ms",
            f"the router's first page, no [access], {size} events buffered, p50 of {runs}",
        ),
        Figure(
            "access.render_signed_in_p50_ms",
            signed_ms,
            "ms",
            f"the same, signed in (require_sign_in), p50 of {runs}",
            "access.render_open_p50_ms",
        ),
        Figure(
            "access.sign_in_overhead_p50_ms",
            signed_ms - open_ms,
            "ms",
            "what sign-in adds to a render, p50 against p50 (target ≤ 50 ms)",
            "access.render_open_p50_ms",
        ),
    ]
