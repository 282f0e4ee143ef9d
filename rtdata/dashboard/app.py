"""rtdata dashboard entry point: only a router (``rtdata dashboard``; ``streamlit run app.py``
in a checkout runs this script).

On a wall display (``?wall=1``) it shows one page at a time, rotating through
``[dashboard] wall_pages`` every ``wall_rotate_s`` seconds, and reruns the whole page every
``wall_refresh_s``.
"""

import time

import streamlit as st
from streamlit_autorefresh import st_autorefresh

from rtdata import ui
from rtdata.dashboard import PAGES as PAGES_DIR
from rtdata.dashboard import run_script

wall = ui.is_wall()
st.set_page_config(
    page_title="rtdata",
    page_icon="📡",  # an emoji: a Material Symbol favicon is fetched from Google Fonts (offline here)
    layout="wide",
    initial_sidebar_state="collapsed" if wall else "auto",
)

PAGE_SPECS = {  # name (URL path) -> (script in pages/, title, icon); overview is the default, at /
    # Icons are Material Symbols, a font Streamlit ships: emoji need a colour-emoji font, which
    # kiosk and headless browsers often lack (they drew empty boxes).
    "overview": ("overview.py", "Overview", ":material/dashboard:"),
    "emergencies": ("emergencies.py", "Emergencies", ":material/emergency:"),
    "health": ("health.py", "Health", ":material/monitor_heart:"),
    "realtime": ("realtime_health.py", "Realtime health", ":material/sensors:"),
    "events": ("events.py", "Events", ":material/receipt_long:"),
    "presence": ("presence.py", "Presence", ":material/group:"),
}
PAGES = {
    name: st.Page(
        PAGES_DIR / script,  # absolute: the checkout's app.py runs this router too
        title=title,
        icon=icon,
        url_path=None if name == "overview" else name,
        default=name == "overview",
    )
    for name, (script, title, icon) in PAGE_SPECS.items()
}

if wall:
    dashboard = ui.recorder().settings.config.dashboard
    rotation = [name for name in dashboard.wall_pages if name in PAGES] or ["overview"]
    # The whole page reruns every wall_refresh_s (live regions are inline on a wall, see
    # ui.live). The rotation runs the current page's script inside one fixed page, so the
    # browser never switches pages: a page switch racing a rerun left it with deltas for a
    # page it no longer showed ("Bad delta path index"), and the wall went blank.
    st_autorefresh(interval=int(dashboard.wall_refresh_s * 1000), key="wall-refresh")
    current = rotation[int(time.time() // dashboard.wall_rotate_s) % len(rotation)]
    script = f"pages/{PAGE_SPECS[current][0]}"

    def wall_page() -> None:
        run_script(script)

    navigation = st.navigation([st.Page(wall_page, title="Wall", default=True)], position="hidden")
else:
    navigation = st.navigation(list(PAGES.values()))
navigation.run()
