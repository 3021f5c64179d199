"""The report's map stays readable where hotspots crowd: numbers clear of each other, words
in the key (the sample file's 40 hotspots, a dozen of them within 2 km of Soho)."""

from __future__ import annotations

import itertools
import re
from html import escape
from pathlib import Path

from dashboard.reports.printable import MAP_H, MAP_W, map_svg
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r'<text x="([\d.]+)" y="([\d.]+)"[^>]*class="pw-report-number"[^>]*>(\d+)<')


def test_numbers_on_the_map_never_cover_each_other_and_the_key_names_every_hotspot() -> None:
    hotspots = list(load_hotspots(ROOT / "config/hotspots.geojson", CoverageDefaults(),
                                  Settings().zone))
    levels = {h.id: ("poor", "20 %") for h in hotspots}
    svg = map_svg(hotspots, levels)
    boxes = []
    for x, y, n in NUMBER.findall(svg):
        left, top = float(x) - 2, float(y) - 10  # as map_svg draws them: 12 px high
        boxes.append((left, top, left + 6.5 * len(n) + 4, top + 12, int(n)))
    assert sorted(b[4] for b in boxes) == list(range(1, len(hotspots) + 1))
    for a, b in itertools.combinations(boxes, 2):
        apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        assert apart, f"numbers {a[4]} and {b[4]} overlap"
    assert all(b[0] >= 0 and b[2] <= MAP_W and b[1] >= 0 and b[3] <= MAP_H for b in boxes)
    for n, h in enumerate(hotspots, start=1):
        assert f"{n}. {escape(h.name[:40])} · 20 %" in svg
