"""The operation report: per hotspot and shift, for the morning briefing (HTML and CSV)."""
