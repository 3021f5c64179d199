"""Every Redis key, TTL and size limit PatrolWatch uses, in one place.

Keys that are read or written together share a hash tag (``{live}``, ``{stats}``,
``{cov}``, ``{task}``) so the same code runs on Redis/Valkey Cluster; per-unit trails carry
the unit id as their tag.
"""

from __future__ import annotations

K_POS = "pw:{live}:pos"  # HASH unit -> JSON latest position (by event time)
K_POS_TS = "pw:{live}:pos_ts"  # HASH unit -> event time of that position
K_GEO = "pw:{live}:geo"  # GEO unit -> latest position
K_STATUS = "pw:{live}:status"  # HASH unit -> JSON latest status
K_STATUS_TS = "pw:{live}:status_ts"  # HASH unit -> event time of that status
K_SEEN = "pw:{live}:seen"  # ZSET unit -> event time of the newest accepted message
K_LWT = "pw:{live}:lwt"  # HASH unit -> time of the last OwnTracks last-will
K_STATS = "pw:{stats}"  # HASH counters, last_message_ts
K_REJECTIONS = "pw:{stats}:rejections"  # LIST recent rejections, newest first
K_FEED = "pw:{cov}:feed"  # STREAM of accepted positions/statuses for the coverage evaluator
K_EVAL_LOCK = "pw:{cov}:lock"  # one coverage evaluator at a time
K_COVERAGE = "pw:{cov}:snapshot"  # STRING JSON of the latest coverage evaluation
K_OBSERVED = "pw:{cov}:observed"  # ZSET "start|end" -> end: observed-time intervals
K_COV_EVENTS = "pw:{cov}:events"  # LIST recent gap opened/closed events, newest first
K_TASKINGS = "pw:{task}:all"  # HASH tasking id -> JSON tasking
K_TASKINGS_OPEN = "pw:{task}:open"  # SET ids of open taskings
K_AUDIT = "pw:{task}:audit"  # ZSET score=time, member=JSON audit entry (taskings, emergencies)
K_EMERGENCY_ACK = "pw:{task}:emergency_ack"  # HASH unit -> JSON {by, ts, status_ts}


def k_trail(unit: str) -> str:
    """Return the key of a unit's trail (ZSET score=event time, member=packed point)."""
    return f"pw:trail:{{{unit}}}"


TRAIL_EXTRAS_BUCKET_S = 600  # one extras hash per unit per 10 minutes: 120 points at 5 s


def extras_bucket(ts: float) -> int:
    """Return the number of the extras bucket a point of this event time goes in."""
    return int(ts // TRAIL_EXTRAS_BUCKET_S)


def k_trail_extras(unit: str, bucket: int) -> str:
    """Return the key of a unit's trail extras in one bucket (``extras_bucket``).

    A HASH: field = the point's ts as its trail member spells it (or the whole trail member
    when a field of that ts is already there: another point of that time), value =
    ``speed|heading|battery|source`` (``codec.extras_tail``). Written only when the trail
    point itself is new, so the trail member stays the message's identity. Same hash tag
    as ``k_trail``: one script writes and removes a point and its extras together. A
    bucket of at most 128 fields is a listpack (about 43 bytes a point; a sorted set of the
    same took 141); it expires on its own once its points are past retention
    (``extras_expire_at``).
    """
    return f"pw:trailx:{{{unit}}}:{bucket}"


def k_status_log(unit: str) -> str:
    """Return the key of a unit's status history (ZSET score=event time, member ``ts|STATUS``)."""
    return f"pw:statuslog:{{{unit}}}"


def k_status_notes(unit: str) -> str:
    """Return the key of the notes of a unit's status-log entries (``k_status_log``).

    A HASH: field = the status-log member (``ts|STATUS``), value = the note the device sent
    (at most 200 characters, checked at parse). Only entries with a note have a field. Same
    hash tag as the log: the script that adds an entry sets its note only when the entry is
    new (a re-delivery never changes it), the retention trim and the archiver remove an
    entry and its note in one call. Expires ``ttl`` after the last note written (retention
    plus two hours: every note in it is past retention by then).
    """
    return f"pw:statusnote:{{{unit}}}"


def k_visits(hotspot: str) -> str:
    """Return the key of a hotspot's visits (ZSET score=start, member=JSON visit)."""
    return f"pw:visits:{{{hotspot}}}"


def k_unit_events(unit: str) -> str:
    """Return the key of a unit's recent events (OwnTracks transitions, last-wills)."""
    return f"pw:events:{{{unit}}}"


UNIT_EVENTS_KEPT = 200
COVERAGE_EVENTS_KEPT = 500
VISIT_MAX_S = 86_400.0  # visits are looked up by start time; none is assumed longer than this
VISITS_RETENTION_S = 400 * 86_400.0  # aggregated dosage outlives raw positions (DOMAIN.md)
FEED_MAXLEN = 2_000_000  # about 3 h of a 10,000-unit fleet at one position every 5 s
TRAIL_TRIM_EVERY_S = 3600.0  # trim a unit's trail and re-arm its TTL at most this often


def extras_expire_at(bucket: int, retention_s: float) -> int:
    """Return when an extras bucket expires: its last moment past retention, plus the trail's
    own TTL margin."""
    return int((bucket + 1) * TRAIL_EXTRAS_BUCKET_S + retention_s + 2 * TRAIL_TRIM_EVERY_S)

# Set a hash field only if the new event time is later; GEOADD with it for positions.
# KEYS: value hash, ts hash, [geo]; ARGV: stride, then (field, ts, value[, lon, lat]) tuples.
K_ACCESS = "pw:{access}:log"  # ZSET score=time, member=JSON history read (who, what, when)
ACCESS_RETENTION_S = 400 * 86_400.0  # the access log outlives the history it records


def k_access_seen(scope_hash: str) -> str:
    """Return the marker of one user's read of one scope (STRING, expires: one log entry)."""
    return f"pw:{{access}}:seen:{scope_hash}"


# Dashboard sessions and sign-in throttling (store/sessions.py). The session id in the
# cookie is never stored: keys hold its SHA-256, so a copy of Redis signs nobody in.
SESSION_MAX_S = 12 * 3600  # one shift and its overrun; a session never outlives this
SESSIONS_PER_USER_MAX = 50  # the oldest sessions beyond this are ended at sign-in


def k_session(sid_hash: str) -> str:
    """Return the key of one session (HASH user, fp, created; expires with the session)."""
    return f"pw:{{sess}}:s:{sid_hash}"


def k_user_sessions(user: str) -> str:
    """Return the key of a user's sessions (ZSET member=sid hash, score=created)."""
    return f"pw:{{sess}}:u:{user}"


def k_sign_in_failures(kind: str, who_hash: str) -> str:
    """Return the key of recent failed sign-ins for one name or address (ZSET score=time)."""
    return f"pw:{{auth}}:fail:{kind}:{who_hash}"
# Alarms (CONTRACT.md sections 4 and 7).
K_ALARMS = "pw:{task}:alarms"  # HASH alarm id -> JSON {id, unit, ts, arrival, acked_by?...}
K_ALARMS_OPEN = "pw:{task}:alarms_open"  # ZSET alarm id, score=arrival: not acknowledged yet
K_ALARMS_UNIT = "pw:{task}:alarms_unit"  # HASH unit -> how many open alarms it holds
ALARMS_OPEN_PER_UNIT = 20  # past this, a unit's EMERGENCYs count as repeats on its newest
# History archive (patrolwatch.archive) and replay
K_ARCHIVE_LOCK = "pw:{archive}:lock"  # one archiver at a time
K_ARCHIVED_UNTIL = "pw:{archive}:until"  # STRING epoch: everything before it was archived once
K_HOTSPOT_STATES = "pw:{replay}:hotspot_states"  # ZSET score=time, member=JSON {t, s: {id: st}}
HOTSPOT_STATES_EVERY_S = 60.0  # one entry a minute at least, and one at every change
# The live picture (issue 11): what every control-room screen shows, built once per change.
K_LIVE_VERSION = "pw:{live}:version"  # STRING counter: +1 with every batch that stored anything
K_LIVE_DIRTY = "pw:{live}:dirty"  # SET units a batch wrote that the producer has not read yet
K_PICTURE = "pw:{pic}:now"  # HASH the current picture: head fields and pre-serialised parts
K_PICTURE_LOCK = "pw:{pic}:lock"  # one picture producer at a time


def k_picture_step(version: int) -> str:
    """Return the key of the map delta that turned picture ``version - 1`` into ``version``."""
    return f"pw:{{pic}}:step:{version}"


PICTURE_STEPS_KEPT = 30  # a screen further behind than this gets the whole units layer again
PICTURE_STEP_TTL_S = 120  # steps older than the kept ones expire on their own


# Experiments (issue 19; patrolwatch.store.experiments)
def k_experiment_days(experiment: str) -> str:
    """Return the key of an experiment's stored days (HASH local date -> allocation JSON)."""
    return f"pw:{{exp}}:{experiment}:days"


def k_experiment_doses(experiment: str) -> str:
    """Return the key of an experiment's measured days (HASH date -> JSON {digest, doses})."""
    return f"pw:{{exp}}:{experiment}:doses"


def k_experiment_pushed(experiment: str) -> str:
    """Return the key of what was last sent to OwnTracks phones (STRING "date|digest")."""
    return f"pw:{{exp}}:{experiment}:pushed"


# Alarms beyond the emergency button (issue 18; store/alarms.py). Same {task} slot as K_ALARMS:
# each kind's alarms are records in K_ALARMS too, so every alarm is one thing.
K_ALARM_LATCH = "pw:{task}:alarm_latch"  # HASH "unit|kind" -> JSON {alarm, cause}: anti-flap
K_ALARM_SPELLS = "pw:{task}:alarm_spells"  # HASH "unit|battery_low" -> start of the low spell
K_ALARMS_ANNOUNCED = "pw:{task}:alarms_announced"  # SET ids told to devices/webhooks as OPEN
K_ALARMS_ACKED = "pw:{task}:alarms_acked"  # ZSET id, score=acknowledged at (recent list)
K_ALARM_LOCK = "pw:{task}:alarm_lock"  # one alarm evaluator at a time
K_CHECKINS = "pw:{task}:checkins"  # HASH check-in id -> JSON {id, unit, ts, answer_by, state...}
K_CHECKINS_OPEN = "pw:{task}:checkins_open"  # ZSET check-in id, score=answer_by
K_CHECKIN_LAST = "pw:{task}:checkin_last"  # HASH unit -> time of its last answer (or miss)
K_WEBHOOKS = "pw:{task}:webhooks"  # ZSET job JSON, score=when it is next due
ALARM_FOLD_WINDOW_S = 900.0  # a cleared alarm whose cause comes back this soon is re-opened
WEBHOOK_ATTEMPTS = 10  # then the job is dropped, with a warning in the log


# A unit's status timeline (core.timeline), all in the {live} slot so the live script reads
# them beside the latest state; kept as long as retention (PATROL_TRAIL_RETENTION_DAYS).
K_ALARM_OUTBOX = "pw:{live}:alarm_outbox"  # HASH alarm id -> row the ALARMS script has yet to take
K_ALARMS_EMERGENCY = "pw:{task}:alarms_emergency"  # HASH unit -> id of its newest emergency alarm
def k_timeline(unit: str) -> str:
    """Return a unit's timeline (ZSET member "arrival µs|ts|STATUS", score = its place)."""
    return f"pw:{{live}}:tl:{unit}"
def k_status_ids(unit: str) -> str:
    """Return the statuses a unit sent that were seen (ZSET "ts|STATUS", score = last seen)."""
    return f"pw:{{live}}:sid:{unit}"
def k_emergency_runs(unit: str) -> str:
    """Return a unit's EMERGENCY runs (HASH entry arrival µs -> "lowest ts|highest ts|seen")."""
    return f"pw:{{live}}:runs:{unit}"
