"""Packet types, verdicts and operator-facing errors shared by every stage."""
