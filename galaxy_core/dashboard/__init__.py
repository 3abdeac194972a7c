"""Streamlit-only helpers: cached loaders and shared widgets. Nothing outside this folder imports Streamlit."""
