"""Shift queries and CSV/PDF export; no Qt widgets."""
