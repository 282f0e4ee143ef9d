"""rtdata dashboard entry point: only a router (``streamlit run app.py``)."""

import streamlit as st

st.set_page_config(page_title="rtdata", page_icon="📡", layout="wide")

navigation = st.navigation(
    [st.Page("pages/overview.py", title="Overview", icon="📊", default=True)]
)
navigation.run()
