"""The HTTP inference service (`python -m galaxy_core serve`): app.py (routes, limits, keys), batching.py."""
