"""Component ids: every id the layout, callbacks and browser tests share."""

from __future__ import annotations

# Map and its layers
MAP = "map"
UNITS = "units-layer"
# The live picture (issue 11): what the server sends, the version the map holds, unit looks
PICTURE = "picture"
PICTURE_HAVE = "picture-have"
UNITS_HIDEOUT = "units-hideout"
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

# Page routing and who is signed in
URL = "url"
PAGE = "page"
WHO = "who"

# Supervisor actions (rendered for supervisors and admins only)
GAP_HEAD = "gap-head"
TOAST = "action-toast"
OPTIMISE = "optimise-gaps"
TASK_DIALOG = "task-dialog"
TASK_SUMMARY = "task-summary"
TASK_NOTE = "task-note"
TASK_ERROR = "task-error"
TASK_CONFIRM = "task-confirm"
TASK_CANCEL = "task-cancel"
TASK_PENDING = "task-pending"
PLAN_DIALOG = "plan-dialog"
PLAN_TABLE = "plan-table"
PLAN_CONFIRM = "plan-confirm"
PLAN_CANCEL = "plan-cancel"
PLAN = "plan"

# Taskings and audit tabs (everyone in the control room)
TASK_TICK = "task-tick"
TAB_TASKINGS = "tab-taskings"
TAB_AUDIT = "tab-audit"
TASKINGS_TAB = "taskings-tab"
TASKINGS = "taskings-list"
AUDIT = "audit-list"
TASK_DIGESTS = "task-digests"
HOTSPOT_UNITS = "hotspot-units"
SOUND_HINT = "sound-hint"

# Crew page
CREW_TICK = "crew-tick"
CREW_UNIT = "crew-unit"
CREW_STATUS = "crew-status"
CREW_MSG = "crew-message"
CREW_TASK = "crew-tasking"
CREW_TASK_TEXT = "crew-tasking-text"
CREW_TASK_ID = "crew-tasking-id"
CREW_ACCEPT = "crew-accept"
CREW_DECLINE = "crew-decline"
CREW_REASON = "crew-reason"
CREW_SHARE = "crew-share"
CREW_SHARE_ON = "crew-share-on"
CREW_SHARE_TEXT = "crew-share-text"
CREW_GEO_BOX = "crew-geo-box"
CREW_GEO = "crew-geo"
CREW_GEO_TICK = "crew-geo-tick"
CREW_EMERGENCY = "crew-emergency"
CREW_ARMED = "crew-armed"
CREW_DISARM = "crew-disarm"

# More pattern-matching id types: ``{"type": TASK_ITEM, "hotspot", "unit", "at"}`` (``at`` is
# "gap" or "panel": the same suggestion can show in both), ``{"type": ACK_ITEM, "unit"}``,
# ``{"type": CREW_STATUS_BUTTON, "status"}``.
TASK_ITEM = "task-item"
ACK_ITEM = "emergency-ack"
CREW_STATUS_BUTTON = "crew-status-button"
