"""rtdata dashboard entry point: only a router (``rtdata dashboard``; ``streamlit run app.py``
in a checkout runs this script).

The pages are the ``[[pages]]`` of ``rtdata.toml``, or, without them, the pages built from the
project's tables (:mod:`rtdata.default_pages`), then the built-in Realtime health and Events.
A config naming columns the project lacks shows its problems instead of pages of zeros.

On a wall display (``?wall=1``) it shows one page at a time, rotating through
``[dashboard] wall_pages`` (every page but Events when empty) every ``wall_rotate_s`` seconds,
and reruns the whole page every ``wall_refresh_s``.

With ``[access] require_sign_in`` nothing but the sign-in form is drawn until the project's
GoTrue signs the user in; then the navigation lists only the pages the user's roles may open,
and a page opened by its URL without the role shows a refusal instead of its data
(:mod:`rtdata.access`). A kiosk link (``?kiosk=<token>``, :mod:`rtdata.kiosk`) opens the wall
rotation of its own pages and nothing else, without sign-in; a refused token shows why, and
nothing else, from the next rerun on.
"""

import time
from collections.abc import Callable

import streamlit as st
from streamlit_autorefresh import st_autorefresh

from rtdata import ui
from rtdata.access import Decision, Refusal
from rtdata.dashboard import PAGES as PAGES_DIR
from rtdata.dashboard import render, run_script
from rtdata.kiosk import KioskGrant, KioskRefusal
from rtdata.layout import BUILTIN_PAGES
from rtdata.lifecycle import ConnectionState

wall = ui.is_wall()
st.set_page_config(
    page_title="rtdata",
    page_icon="📡",  # an emoji: a Material Symbol favicon is fetched from Google Fonts (offline here)
    layout="wide",
    initial_sidebar_state="collapsed" if wall else "auto",
)

recorder = ui.recorder()
access = recorder.settings.config.access


def _only(draw: Callable[[], None], title: str) -> None:
    """Route every page's URL to ``draw`` (and nothing else, with no navigation), then stop.
    The URL paths are the pages' own, so the page asked for is the one shown afterwards."""
    names = [*(p.name for p in ui.pages(recorder)), *BUILTIN_PAGES, "audit"]
    st.navigation(
        [st.Page(draw, title=title, url_path=name, default=i == 0) for i, name in enumerate(names)],
        position="hidden",
    ).run()
    st.stop()


granted = ui.kiosk_access()  # a kiosk link (?kiosk=<token>) opens its pages without sign-in
if isinstance(granted, KioskRefusal):
    refused = granted
    _only(lambda: ui.kiosk_refusal(refused), "Kiosk")
if access.require_sign_in and granted is None and ui.signed_in() is None:
    _only(ui.sign_in_form, "Sign in")

problems = ui.config_problems(recorder)
if problems:
    named = recorder.settings.config.source or "The config"
    st.error(
        f"{named} names what the project does not have:\n\n"
        + "\n".join(f"- `{line}`" for line in problems)
    )
    st.stop()

configured = ui.pages(recorder)
config = recorder.settings.config
if not config.pages and not recorder.settings.table_keys and recorder.schema is not None:
    # Discovery is done, and found nothing to follow: say why instead of waiting forever.
    keyless = recorder.schema.keyless()
    st.warning(
        "The project exposes no table with a primary key, so there is nothing to follow."
        + (f" Tables without one: {', '.join(keyless)}." if keyless else "")
        + " Add a primary key, or name the tables in rtdata.toml ([[channels]])."
    )
elif not config.pages and not recorder.settings.table_keys and not wall:
    # The collector is still reading the project's tables: the page set is not known yet.
    # Rerun the whole script (navigation included) every second until it is.
    status = recorder.status
    failing = status.state in (ConnectionState.FAILED, ConnectionState.RECONNECTING)
    reason = status.reason if failing else ""
    st.info(
        "Reading the project's tables from its REST schema…" + (f" ({reason})" if reason else "")
    )
    st_autorefresh(interval=1000, key="discovery-refresh")
BUILTIN_SCRIPTS = {"realtime": "realtime_health.py", "events": "events.py", "audit": "audit.py"}
BUILTIN_ROLES = {"realtime": access.realtime_roles, "events": access.events_roles}
# The audit page, with sign-in only: without it there is nobody to name in the log.
AUDIT_PAGE = {"audit": ("Audit log", ":material/policy:")} if access.require_sign_in else {}
if AUDIT_PAGE:
    BUILTIN_ROLES["audit"] = access.audit_roles
ROLES = {**{p.name: p.roles for p in configured}, **BUILTIN_ROLES}
if isinstance(granted, KioskGrant):
    DECISIONS = {name: Decision(None if name in granted.pages else Refusal.ROLE) for name in ROLES}
else:
    DECISIONS = {name: ui.page_decision(roles) for name, roles in ROLES.items()}


def _shows(name: str) -> Callable[[], None]:
    def show() -> None:
        render.show(name, recorder)

    show.__name__ = f"page_{name}"
    return show


def _refuses(name: str) -> Callable[[], None]:
    def refuse() -> None:
        ui.refusal(DECISIONS[name], name)

    refuse.__name__ = f"refused_{name}"
    return refuse


allowed = [name for name, decision in DECISIONS.items() if decision.allowed]


# Icons are Material Symbols, a font Streamlit ships: emoji need a colour-emoji font, which kiosk
# and headless browsers often lack (they drew empty boxes).
# The default page is the first the user may open (the first configured page without sign-in).
PAGES = {
    p.name: st.Page(
        _shows(p.name) if DECISIONS[p.name].allowed else _refuses(p.name),
        title=p.title,
        icon=p.icon,
        url_path=p.name,
        default=bool(allowed) and p.name == allowed[0],
    )
    for p in configured
}
for name, (title, icon) in {**BUILTIN_PAGES, **AUDIT_PAGE}.items():
    PAGES[name] = st.Page(
        # absolute: the checkout's app.py runs this router too
        PAGES_DIR / BUILTIN_SCRIPTS[name] if DECISIONS[name].allowed else _refuses(name),
        title=title,
        icon=icon,
        url_path=name,
        default=bool(allowed) and name == allowed[0],
    )
if not allowed:
    st.error("No page of this dashboard is open to you. Ask an admin for a role that opens one.")
    st.stop()

if wall:
    dashboard = recorder.settings.config.dashboard
    if isinstance(granted, KioskGrant):  # the kiosk's pages, in its order
        rotation = [name for name in granted.pages if name in allowed]
    else:
        rotation = (
            [name for name in dashboard.wall_pages if name in allowed]
            or [name for name in (*(p.name for p in configured), "realtime") if name in allowed]
            or allowed  # a user who may open only Events
        )
    # The whole page reruns every wall_refresh_s (live regions are inline on a wall, see
    # ui.live). The rotation runs the current page inside one fixed page, so the browser never
    # switches pages: a page switch racing a rerun left it with deltas for a page it no longer
    # showed ("Bad delta path index"), and the wall went blank.
    # The wall's style before the timer: the timer's holder is out of the flow from its first
    # frame (the page sets the style again, for a page script run on its own).
    ui.wall_style()
    st_autorefresh(interval=int(dashboard.wall_refresh_s * 1000), key="wall-refresh")
    current = rotation[int(time.time() // dashboard.wall_rotate_s) % len(rotation)]

    def wall_page() -> None:
        if current in BUILTIN_SCRIPTS:
            run_script(f"pages/{BUILTIN_SCRIPTS[current]}")
        else:
            render.show(current, recorder)

    navigation = st.navigation([st.Page(wall_page, title="Wall", default=True)], position="hidden")
elif access.require_sign_in:
    # Every page is routed, so a page opened by its URL without the role shows its refusal;
    # the sidebar lists only the pages the user may open.
    navigation = st.navigation(list(PAGES.values()), position="hidden")
    with st.sidebar:
        for name in allowed:
            st.page_link(PAGES[name])
else:
    navigation = st.navigation(list(PAGES.values()))
    if not recorder.settings.config.pages:
        # Default pages follow the tables the collector discovers, which it may not have yet
        # on a session's first run: redraw the whole app (navigation and page) when they
        # change, or the first visitors keep an empty Overview until they reload.
        with st.sidebar:

            @st.fragment(run_every=ui.refresh_interval_s())
            def follow_tables() -> None:
                if ui.pages(recorder) != configured:
                    st.rerun()

            follow_tables()
if access.require_sign_in and granted is None:
    # After st.navigation: the button's id depends on the page being run, and must be the
    # same in every run of it, or the first click after signing in is lost.
    ui.sign_out_control()
navigation.run()
