"""Component ids: every id the layout, callbacks and browser tests share."""

from __future__ import annotations

# Map and its layers
MAP = "map"
UNITS = "units-layer"
HOTSPOTS = "hotspots-layer"

# Timers and client-side memory (per browser tab; Redis stays the only shared state)
TICK = "tick"
SLOW_TICK = "slow-tick"
DIGESTS = "digests"

# Header and banners
CLOCK = "clock"
FEED = "feed-status"
EMERGENCY = "emergency-banner"
DEGRADED = "degraded-banner"

# Side panel
COUNTS = "counts"
GAPS = "gap-list"
GAP_BADGE = "gap-badge"
PREDICTABILITY = "predictability"
TABS = "side-tabs"
TAB_HOTSPOT = "tab-hotspot"
TAB_UNITS = "tab-units"
TAB_LOST = "tab-lost"
TAB_DOSAGE = "tab-dosage"
LOST_TAB = "lost-tab"
SEARCH = "unit-search"
UNIT_LIST = "unit-list"
LOST_LIST = "lost-list"
HOTSPOT_PICK = "hotspot-pick"
HOTSPOT_PANEL = "hotspot-panel"
TIMELINE = "hotspot-timeline"
DOSAGE_TABLE = "dosage-table"
DOSAGE_CSV = "dosage-csv"
DOSAGE_DOWNLOAD = "dosage-download"

# Pattern-matching id types: ``{"type": GAP_ITEM, "hotspot": id}``,
# ``{"type": UNIT_ITEM, "unit": id}``
GAP_ITEM = "gap-item"
UNIT_ITEM = "unit-item"
