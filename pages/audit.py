"""Audit log page, from a checkout: runs the packaged script of the same name in
``rtdata/dashboard/pages/``.

Kept for AppTest and for Streamlit's ``pages/`` folder mode, which runs this file by itself when
the first request names the page (see ``rtdata.ui._route_through_app``).
"""

from rtdata.dashboard import run_script

run_script("pages/audit.py")
