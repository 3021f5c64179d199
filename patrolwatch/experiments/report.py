"""The experiment report: the panel CSV and an HTML summary an analyst starts from.

The summary shows the dose delivered by arm, a balance table of the pool (how often each
place was treated, and its dose as control), compliance over time, and treated-minus-control
differences with permutation intervals from the same design re-run with other seeds
(:mod:`patrolwatch.experiments.inference`). Outcome differences, when a crimes file is
given, are labelled as an analysis aid, not a finding. All text is escaped.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np

from patrolwatch.core.hotspots import Hotspot
from patrolwatch.experiments.allocation import allocate
from patrolwatch.experiments.design import Experiment
from patrolwatch.experiments.inference import Difference, interval
from patrolwatch.experiments.panel import PanelRow

DRAWS = 200  # alternative seeds for the permutation intervals
DOSE_MEASURES = ("patrol_minutes", "officer_minutes", "qualifying_visits", "visits",
                 "buffer_patrol_minutes")
OUTCOME_MEASURES = ("harm", "events", "buffer_harm", "buffer_events")


def _fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def differences(exp: Experiment, rows: Sequence[PanelRow], measures: Sequence[str],
                draws: int = DRAWS) -> dict[str, Difference]:
    """Return treated-minus-control per measure with its interval under the design."""
    days = sorted({r.date for r in rows})
    column = {(r.hotspot, r.date): i for i, r in enumerate(rows)}
    arms = np.zeros((draws, len(rows)), bool)  # each row: another seed's assignment
    digest = exp.digest()
    for k in range(draws):
        for d in days:
            for h in allocate(exp, date.fromisoformat(d), seed=exp.seed + 7919 * (k + 1),
                              digest=digest).treatment:
                if (h, d) in column:
                    arms[k, column[(h, d)]] = True
    mine = np.array([r.arm == "treatment" for r in rows], bool)
    out = {}
    for m in measures:
        raw = [getattr(r, m) for r in rows]
        keep = np.array([v is not None for v in raw], bool)
        y = np.array([float(v) if v is not None else 0.0 for v in raw], float)
        out[m] = interval(y[keep], mine[keep], arms[:, keep])
    return out


def _table(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                  for row in body)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _diff_rows(diffs: dict[str, Difference]) -> list[list[str]]:
    return [[m, _fmt(d.estimate, 2), f"{_fmt(d.low, 2)} to {_fmt(d.high, 2)}",
             _fmt(d.p_value, 3), str(d.draws)] for m, d in diffs.items()]


def _arm_balance(by_arm: Mapping[str, Sequence[PanelRow]], hotspots: Mapping[str, Hotspot],
                 cats: Sequence[str]) -> list[list[str]]:
    """Return, per arm, the place-days' mean priority and their share of each category."""
    out = []
    for arm, rs in sorted(by_arm.items()):
        known = [hotspots[r.hotspot] for r in rs if r.hotspot in hotspots]
        share = [f"{100 * sum(1 for h in known if h.category == c) / len(known):.0f} %"
                 if known else "–" for c in cats]
        out.append([arm, str(len(rs)),
                    _fmt(float(np.mean([h.priority for h in known])) if known else None, 2),
                    *share])
    return out


def summary_html(exp: Experiment, rows: Sequence[PanelRow], draws: int = DRAWS,
                 hotspots: Mapping[str, Hotspot] | None = None) -> str:
    """Return the HTML summary of a panel (place-days with no observed minute left out)."""
    everything = rows
    cats = sorted({hotspots[h].category for h in exp.places() if h in (hotspots or {})}
                  ) if hotspots else []
    rows = [r for r in rows if r.observed_minutes > 0]  # no data is not a zero dose
    by_arm: dict[str, list[PanelRow]] = defaultdict(list)
    for r in rows:
        by_arm[r.arm].append(r)
    dose = [[arm, str(len(rs))] + [_fmt(float(np.mean([getattr(r, m) for r in rs])))
                                   for m in DOSE_MEASURES]
            for arm, rs in sorted(by_arm.items())]
    places: dict[str, list[PanelRow]] = defaultdict(list)
    for r in rows:
        places[r.hotspot].append(r)
    balance = []
    for h, rs in places.items():
        treated = [r for r in rs if r.arm == "treatment"]
        control = [r for r in rs if r.arm == "control"]
        spot = (hotspots or {}).get(h)
        balance.append([h, rs[0].block, spot.category if spot else "–",
                        str(spot.priority) if spot else "–", str(len(rs)), str(len(treated)),
                        _fmt(float(np.mean([r.patrol_minutes for r in control]))
                             if control else None),
                        _fmt(float(np.mean([r.patrol_minutes for r in treated]))
                             if treated else None)])
    per_day: dict[str, list[PanelRow]] = defaultdict(list)
    for r in by_arm.get("treatment", []):
        per_day[r.date].append(r)
    compliance = []
    for d, rs in sorted(per_day.items()):
        judged = [r.compliance for r in rs if r.compliance is not None]
        compliance.append([d, str(len(rs)), str(len(judged)),
                           _fmt(float(np.mean(judged)) if judged else None, 3),
                           str(sum(1 for r in rs if r.mostly_unobserved))])
    head = ["measure", "treated − control", "95% permutation interval", "p (no effect)",
            "draws"]
    parts = [
        f"<h1>{html.escape(exp.name)} ({html.escape(exp.id)})</h1>",
        f"<p>{html.escape(str(exp.start))} to {html.escape(str(exp.end))}; pool of "
        f"{len(exp.places())}; dose {exp.dose.visits} × {exp.dose.minutes:g} min; buffer "
        f"{exp.buffer_m:g} m; design digest {html.escape(exp.digest())}; {len(rows)} "
        f"place-days observed of {len(everything)} in the panel (the others, with no observed "
        "minute, are left out of these tables: silence is neither presence nor absence).</p>",
        "<h2>Dose delivered by arm (means per place-day)</h2>",
        _table(["arm", "place-days", *DOSE_MEASURES], dose),
        "<h2>Balance of the pool</h2>",
        _table(["hotspot", "block", "category", "priority", "days", "treated days",
                "patrol-min as control", "patrol-min as treated"], balance),
        *([_table(["arm", "place-days", "mean priority", *cats],
                  _arm_balance(by_arm, hotspots, cats))] if hotspots else []),
        "<h2>Compliance over time (treated places)</h2>",
        _table(["date", "treated", "judged (observed)", "mean compliance",
                "mostly unobserved"], compliance),
        "<h2>Treated minus control: dose</h2>",
        "<p>Intervals re-run the same block randomisation with other seeds (randomisation "
        "inference, constant additive effect).</p>",
        _table(head, _diff_rows(differences(exp, rows, DOSE_MEASURES, draws))),
    ]
    if rows and rows[0].events is not None:
        parts += [
            "<h2>Treated minus control: outcomes (an analysis aid, not a finding)</h2>",
            "<p>Crime counts and harm per place-day from the imported crimes file. Short "
            "trials, few places and recording practice all limit what this can say; read it "
            "with the trial's pre-registered analysis, not instead of it.</p>",
            _table(head, _diff_rows(differences(exp, rows, OUTCOME_MEASURES, draws))),
        ]
    style = ("body{font-family:sans-serif;margin:2em;max-width:70em}"
             "table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #bbb;padding:.2em .6em;text-align:right}"
             "td:first-child,th:first-child{text-align:left}")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Experiment {html.escape(exp.id)}</title><style>{style}</style></head>"
            f"<body>{''.join(parts)}</body></html>")
