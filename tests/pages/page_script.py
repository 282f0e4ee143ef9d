"""AppTest script: draws the dashboard page named by the ``page`` query parameter
(``tests.pages.harness.run_page``), as the router draws a configured page."""

import streamlit as st

from rtdata import ui
from rtdata.dashboard import render

render.show(st.query_params["page"], ui.recorder())
