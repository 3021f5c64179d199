"""PatrolWatch: real-time patrol tracking and visible presence in hotspots."""

__version__ = "0.1.0"
