"""Replay (/replay): every unit and hotspot state on one timeline, and who was where."""
