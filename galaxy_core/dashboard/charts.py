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
