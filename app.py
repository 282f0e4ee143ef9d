"""rtdata dashboard entry point: only a router (``streamlit run app.py``).

On a wall display (``?wall=1``) it shows one page at a time, rotating through
``[dashboard] wall_pages`` every ``wall_rotate_s`` seconds.
"""

import time

import streamlit as st
from streamlit_autorefresh import st_autorefresh

from rtdata import ui

wall = ui.is_wall()
st.set_page_config(
    page_title="rtdata",
    page_icon="📡",
    layout="wide",
    initial_sidebar_state="collapsed" if wall else "auto",
)

PAGES = {
    "overview": st.Page("pages/overview.py", title="Overview", icon="📊", default=True),
    "emergencies": st.Page(
        "pages/emergencies.py", title="Emergencies", icon="🚑", url_path="emergencies"
    ),
    "health": st.Page("pages/health.py", title="Health", icon="❤️", url_path="health"),
    "realtime": st.Page(
        "pages/realtime_health.py", title="Realtime health", icon="📡", url_path="realtime"
    ),
    "events": st.Page("pages/events.py", title="Events", icon="🧾", url_path="events"),
    "presence": st.Page("pages/presence.py", title="Presence", icon="👥", url_path="presence"),
}

if wall:
    dashboard = ui.collector().settings.config.dashboard
    rotation = [name for name in dashboard.wall_pages if name in PAGES] or ["overview"]
    st_autorefresh(interval=int(dashboard.wall_rotate_s * 1000), key="wall-rotation")
    current = rotation[int(time.time() // dashboard.wall_rotate_s) % len(rotation)]
    navigation = st.navigation([PAGES[current]], position="hidden")
else:
    navigation = st.navigation(list(PAGES.values()))
navigation.run()
