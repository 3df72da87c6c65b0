"""Figures, labels and the HTML report."""
