"""The dashboard from a checkout (``streamlit run app.py``): runs the packaged router,
``rtdata/dashboard/app.py``, which ``rtdata dashboard`` and ``rtdata demo`` start from anywhere."""

from rtdata.dashboard import run_script

run_script("app.py")
