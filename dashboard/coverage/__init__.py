"""Hotspot coverage on screen: the gap list, the hotspot panel and timeline, dosage."""
