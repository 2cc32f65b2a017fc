"""Figures: one shared matplotlib style, and every figure saved as PDF, SVG and a 200 dpi PNG."""
from hwsim.figures.style import figure, save_figure

__all__ = ["figure", "save_figure"]
