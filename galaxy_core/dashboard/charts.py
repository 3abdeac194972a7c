"""Plotly figures shared by pages."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from galaxy_core.classes import CLASSES, REAL_COUNTS, REAL_TOTAL


def class_counts_figure(counts: np.ndarray, compare_with_real: bool) -> go.Figure:
    """Images per class, coloured per class; with the real file's share as markers when asked."""
    names = [c.name for c in CLASSES]
    figure = go.Figure(go.Bar(x=names, y=counts, marker_color=[c.colour for c in CLASSES], name="this file",
                              hovertemplate="%{x}: %{y:,} images<extra></extra>"))
    if compare_with_real:
        expected = np.array(REAL_COUNTS) / REAL_TOTAL * counts.sum()
        figure.add_trace(go.Scatter(x=names, y=expected, mode="markers", name="real file's balance",
                                    marker={"symbol": "line-ew-open", "size": 28, "color": "black"},
                                    hovertemplate="real balance: %{y:,.0f}<extra></extra>"))
    figure.update_layout(height=320, margin={"l": 10, "r": 10, "t": 10, "b": 10}, yaxis_title="images",
                         legend={"orientation": "h", "y": 1.12}, xaxis_tickangle=-30)
    return figure


def confusion_figure(matrix: np.ndarray, normalise: bool) -> go.Figure:
    """The confusion matrix as square markers: unlike a heatmap, points can be clicked and selected.

    It sets no clickmode or dragmode: st.plotly_chart configures selection itself, and a figure's
    own settings stop clicks from reaching Streamlit.
    """
    from galaxy_core.classes import CLASSES

    matrix = np.asarray(matrix, dtype=np.float64)
    values = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalise else matrix
    short = [c.short for c in CLASSES]
    xs, ys, colours, texts, custom = [], [], [], [], []
    for t in range(len(CLASSES)):
        for p in range(len(CLASSES)):
            xs.append(short[p])
            ys.append(short[t])
            colours.append(values[t, p])
            texts.append(f"{values[t, p]:.2f}" if normalise else f"{int(matrix[t, p])}")
            custom.append([t, p, int(matrix[t, p])])
    figure = go.Figure(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=texts, textfont={"size": 11}, customdata=custom,
        marker={"symbol": "square", "size": 40, "color": colours, "colorscale": "Blues", "showscale": True,
                "line": {"width": 0.5, "color": "#999"}},
        hovertemplate="true %{y}, predicted %{x}: %{customdata[2]} images<extra></extra>",
    ))
    figure.update_layout(height=560, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="predicted", yaxis_title="true",
                         yaxis={"autorange": "reversed", "categoryorder": "array", "categoryarray": short},
                         xaxis={"categoryorder": "array", "categoryarray": short, "side": "top"})
    return figure


def curves_figure(history: list[dict], metric: str) -> go.Figure:
    figure = go.Figure()
    epochs = [h["epoch"] for h in history]
    for part, dash in (("train", None), ("val", "dash")):
        figure.add_trace(go.Scatter(x=epochs, y=[h[f"{part}_{metric}"] for h in history], name=part, line={"dash": dash}))
    figure.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10}, title=metric, xaxis_title="epoch")
    return figure


def reliability_figure(bins: list[dict]) -> go.Figure:
    used = [b for b in bins if b["count"]]
    figure = go.Figure([
        go.Bar(x=[b["confidence"] for b in used], y=[b["accuracy"] for b in used], width=0.06, name="accuracy",
               hovertemplate="confidence %{x:.2f}: accuracy %{y:.2f}<extra></extra>"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration", line={"dash": "dot", "color": "grey"}),
    ])
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="confidence", yaxis_title="accuracy",
                         xaxis={"range": [0, 1]}, yaxis={"range": [0, 1]})
    return figure


def risk_coverage_figure(curve: list[dict]) -> go.Figure:
    """Accuracy of the most confident k% of answers against k, with the Wilson band: how much to trust the sure ones."""
    coverage = [100 * p["coverage"] for p in curve]
    figure = go.Figure([
        go.Scatter(x=coverage + coverage[::-1], y=[p["high"] for p in curve] + [p["low"] for p in curve][::-1], fill="toself",
                   line={"width": 0}, fillcolor="rgba(99, 110, 250, 0.15)", name="95% interval", hoverinfo="skip"),
        go.Scatter(x=coverage, y=[p["accuracy"] for p in curve], mode="lines", name="accuracy",
                   customdata=[[p["right"], p["of"], p["threshold"]] for p in curve],
                   hovertemplate="most confident %{x:.0f}%: %{customdata[0]} of %{customdata[1]} right "
                                 "(confidence at least %{customdata[2]:.2f})<extra></extra>"),
    ])
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="answers kept, most confident first (%)",
                         yaxis_title="accuracy", xaxis={"range": [0, 100]}, yaxis={"range": [0, 1.02]})
    return figure
