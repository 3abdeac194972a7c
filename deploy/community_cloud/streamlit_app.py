"""Entry point for Streamlit Community Cloud: runs the repository's app.py.

It lives in its own folder so that Community Cloud installs this folder's requirements.txt (CPU-only
PyTorch) instead of the repository's (PyPI's CUDA build, about 1 GB more memory at import). Choose
`deploy/community_cloud/streamlit_app.py` as the main file when deploying; see the README's Deploy.
"""
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
runpy.run_path(str(REPO / "app.py"), run_name="__main__")
