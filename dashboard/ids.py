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
BASEMAP = "basemap-layer"
NO_BASEMAP = "no-basemap"  # the notice shown when no basemap is configured

# Timers and client-side memory (per browser tab; Redis stays the only shared state)
TICK = "tick"
SLOW_TICK = "slow-tick"
DIGESTS = "digests"
SLOW_DIGESTS = "slow-digests"  # the dosage panel's and the predictability warning's

# Header and banners
CLOCK = "clock"
FEED = "feed-status"
EMERGENCY = "emergency-banner"
DEGRADED = "degraded-banner"

# Side panel
COUNTS = "counts"
GAPS = "gap-list"
GAPS_DATA = "gap-list-data"  # the rendered list, copied into GAPS in the browser
GAP_BADGE = "gap-badge"
GAP_HOLD = "gap-hold"  # set by the browser while the pointer is on the gap list
GAP_HELD = "gap-held"  # says the list is paused, and why
PREDICTABILITY = "predictability"
TABS = "side-tabs"
TAB_HOTSPOT = "tab-hotspot"
TAB_UNITS = "tab-units"
TAB_LOST = "tab-lost"
TAB_DOSAGE = "tab-dosage"
LOST_TAB = "lost-tab"
SEARCH = "unit-search"
UNIT_LIST = "unit-list"
UNIT_PICK = "unit-pick"  # the unit whose panel is open (per browser tab)
UNIT_PANEL = "unit-panel"
UNIT_CLOSE = "unit-close"
UNIT_DIGEST = "unit-digest"
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
CREW_SOS = "crew-sos"  # the bar at the bottom of the screen holding the EMERGENCY button
CREW_ARMED = "crew-armed"
CREW_DISARM = "crew-disarm"

# More pattern-matching id types: ``{"type": TASK_ITEM, "hotspot", "unit", "at"}`` (``at`` is
# "gap" or "panel": the same suggestion can show in both), ``{"type": ACK_ITEM, "alarm"}``
# (one emergency), ``{"type": CREW_STATUS_BUTTON, "status"}``.
TASK_ITEM = "task-item"
ACK_ITEM = "emergency-ack"
CREW_STATUS_BUTTON = "crew-status-button"

# Admin page (/admin): who read whose history, and recent ingest rejections
ADMIN_TICK = "admin-tick"
ADMIN_ACCESS = "admin-access"
ADMIN_REJECTIONS = "admin-rejections"
ADMIN_LINK = "admin-link"
ADMIN_OLDER = "admin-older"  # the access log's next older page
ADMIN_NEWEST = "admin-newest"  # back to its newest page
ADMIN_CURSOR = "admin-cursor"  # dcc.Store {"before": score or None, "back": [earlier befores]}
ADMIN_PAGE_SAID = "admin-page-said"
# The replay page (/replay) and its who-was-here panel; ``{"type": REPLAY_STEP, "minutes"}``.
REPLAY_CLOCK = "replay-clock"
REPLAY_PERIOD = "replay-period"
REPLAY_TICK = "replay-tick"
REPLAY_MAP = "replay-map"
REPLAY_UNITS = "replay-units"
REPLAY_HOTSPOTS = "replay-hotspots"
REPLAY_TRACK = "replay-track"
REPLAY_SCRUBBER = "replay-scrubber"
REPLAY_PLAY = "replay-play"
REPLAY_SPEED = "replay-speed"
REPLAY_STEP = "replay-step"
REPLAY_NEXT_GAP = "replay-next-gap"
REPLAY_NEXT_EMERGENCY = "replay-next-emergency"
REPLAY_AT = "replay-at"
REPLAY_FOLLOW = "replay-follow"
REPLAY_UNFOLLOW = "replay-unfollow"
REPLAY_FROM = "replay-from"
REPLAY_TO = "replay-to"
REPLAY_LOAD = "replay-load"
REPLAY_MESSAGE = "replay-message"
REPLAY_TIMELINE = "replay-timeline"
REPLAY_DRAW = "replay-draw"
WHO_HOTSPOT = "who-hotspot"
WHO_ASK = "who-ask"
WHO_TABLE = "who-table"
WHO_MESSAGE = "who-message"
WHO_FROM = "who-from"
WHO_TO = "who-to"
# Alarms of every kind beyond EMERGENCY (dashboard/alarms/, issue 18)
RULE_ALARMS = "rule-alarms"  # the banner of alarm cards under the EMERGENCY banner
RULE_ALARM_ACK = "rule-alarm-ack"  # {"type": RULE_ALARM_ACK, "alarm": id}: one card's button
RULE_ALARM_TOAST = "rule-alarm-toast"
CREW_CHECKIN = "crew-checkin"  # the crew's "Are you OK?" box
CREW_CHECKIN_ID = "crew-checkin-id"
CREW_CHECKIN_OK = "crew-checkin-ok"
CREW_CHECKIN_HELP = "crew-checkin-help"
CREW_CHECKIN_MSG = "crew-checkin-msg"
