"""Drawing helpers for D-FINE's per-edge distributions."""

from .edge_bands import draw_edge_bands, edge_bands

__all__ = ['draw_edge_bands', 'edge_bands']
