/* PatrolWatch map functions, referenced from Python as {"variable": "patrolwatch.<...>"}.
 *
 * Colours and labels arrive in each layer's `hideout` (dashboard/palette.py), so this file
 * holds drawing logic only. The map draws every vector on one canvas (``preferCanvas``):
 * smooth with 10,000 units, and hotspots and units share one hit test, so hovering a unit
 * inside a hotspot finds the unit. An EMERGENCY unit is a DOM marker so CSS can make it
 * pulse above everything else.
 */
window.patrolwatch = window.patrolwatch || {};

(function (pw) {
  "use strict";
  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (ch) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch];
    });
  }

  // The Leaflet map, for the browser console and the browser tests (read-only use).
  pw.map = null;

  // Markers grow with the screen like the type does (1 up to 1700 px wide, 2.26 at 4K), so
  // a wall screen's dots read across the room and a laptop's do not crowd the map.
  pw.scale = function () {
    return Math.max(1, Math.min(2.4, (window.innerWidth || 1700) / 1700));
  };

  pw.units = {
    pointToLayer: function (feature, latlng, context) {
      pw.map = context.map;
      watch(context.map);
      var p = feature.properties;
      var look = context.hideout.st[p.s] || ["?", "#000000"];
      var callsign = context.hideout.cs[p.id] || p.id;
      if (p.s === "E") {
        // Pulsing until a supervisor acknowledges it (p.k), then a steady marker.
        var ring = p.k ? "" : '<span class="pw-alarm-ring"></span>';
        var k = pw.scale();
        var icon = L.divIcon({
          className: "pw-alarm-icon" + (p.k ? " pw-alarm-icon-acked" : ""),
          html: '<span class="pw-alarm-box" style="transform: scale(' + k + ')">' + ring +
                '<span class="pw-alarm-dot"></span></span>',
          iconSize: [40 * k, 40 * k],
          iconAnchor: [20 * k, 20 * k]
        });
        var alarm = L.marker(latlng, {icon: icon, zIndexOffset: 10000, keyboard: false});
        alarm.bindTooltip("EMERGENCY " + esc(callsign) + (p.k ? " (acknowledged)" : ""), {
          permanent: true, direction: "right", offset: [16 * k, 0],
          className: "pw-alarm-label" + (p.k ? " pw-alarm-acked" : "")
        });
        pw.declutterSoon();
        return alarm;
      }
      // A unit is always a small filled dot with a solid outline; hotspots are dashed rings
      // and areas, so neither can be read as the other.
      var s = pw.scale();
      var options = {radius: 6 * s, weight: 1.5 * s, color: "#111827",
                     fillColor: look[1], fillOpacity: 1};
      var text = esc(callsign) + " · " + esc(look[0]);
      if (p.l) {
        var lost = context.hideout.lost;
        // Grey with a white ring: the last known place, not a live position.
        options = {radius: 6.5 * s, weight: 2.5 * s, color: "#ffffff",
                   fillColor: lost[1], fillOpacity: 1};
        text += " · " + esc(lost[0]);
      }
      var marker = L.circleMarker(latlng, options);
      marker.bindTooltip(text, {direction: "top", offset: [0, -6]});
      return marker;
    }
  };

  // Hotspot areas, plus a pin at each centroid so a 150 m hotspot stays visible city-wide.
  pw.hotspots = {
    pointToLayer: function (feature, latlng, context) {
      // The units layer (assets/live.js) draws on this map: hotspot pins come first.
      if (context && context.map) { pw.map = pw.map || context.map; }
      if (feature.properties.pin) {
        return L.circleMarker(latlng, {radius: 9});
      }
      return L.circle(latlng, {radius: feature.properties.radius_m || 150});
    },
    style: function (feature, context) {
      var state = context.hideout.s[feature.properties.id] || "no_data";
      var style = context.hideout.styles[state];
      if (feature.properties.pin) {
        // A solid hollow ring: never mistaken for a unit's filled dot, nor for the dashed
        // ring of a lost-contact unit. Inactive hotspots stay quiet.
        // A dashed ring with a light fill: a place, never a unit's solid dot (inactive ones
        // are quieter, gaps bigger and bolder).
        var quiet = state === "inactive";
        var s = pw.scale();
        return Object.assign({}, style, {radius: (state === "gap" ? 15 : quiet ? 10 : 12) * s,
                                         weight: (state === "gap" ? 5 : quiet ? 2 : 3.5) * s,
                                         dashArray: (quiet ? 3 : 5) * s + " " + 3 * s,
                                         fillOpacity: quiet ? 0.1 : 0.22});
      }
      return style;
    },
    onEachFeature: function (feature, layer, context) {
      var p = feature.properties;
      var state = context.hideout.s[p.id] || "no_data";
      var meaning = context.hideout.labels[state] || state;
      var category = String(p.category || "other").replace(/_/g, " ");
      var text = "<b>" + esc(p.name || p.id) + "</b><br>" + esc(category) +
                 " · P" + esc(p.priority || 3) + "<br>" + esc(meaning);
      // Gaps carry a permanent label: the control room must see them without hovering.
      var label = Boolean(state === "gap" && p.pin);
      layer.bindTooltip(label ? "GAP · " + esc(p.name || p.id) : text, {
        permanent: label, direction: label ? "right" : "top", offset: label ? [14, 0] : [0, -8],
        className: label ? "pw-gap-label" : "pw-hotspot-tip"
      });
      if (context && context.map) { watch(context.map); }
      if (label) { pw.declutterSoon(); }
    }
  };

  // Permanent labels (EMERGENCY first, then GAP) must never cover one another: each is
  // pushed down below any label already placed that it would overlap. Emergencies are
  // placed first, so a gap label moves for them, never the other way round. The legend
  // turns see-through while an emergency marker or label lies under it.
  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }

  pw.declutter = function () {
    var labels = Array.prototype.slice.call(document.querySelectorAll(
      ".leaflet-tooltip.pw-alarm-label, .leaflet-tooltip.pw-gap-label"));
    labels.forEach(function (el) { el.style.marginTop = ""; });
    var boxes = labels.map(function (el) {
      return {el: el, r: el.getBoundingClientRect(),
              rank: el.classList.contains("pw-alarm-label") ? 0 : 1};
    });
    boxes.sort(function (a, b) { return a.rank - b.rank || a.r.top - b.r.top || a.r.left - b.r.left; });
    var placed = [];
    boxes.forEach(function (box) {
      var r = box.r;
      var shift = 0;
      for (var guard = 0; guard < 100; guard++) {
        var here = {left: r.left, right: r.right, top: r.top + shift, bottom: r.bottom + shift};
        var hit = null;
        for (var i = 0; i < placed.length; i++) {
          if (overlaps(here, placed[i])) { hit = placed[i]; break; }
        }
        if (!hit) { placed.push(here); break; }
        shift = hit.bottom + 2 - r.top;
      }
      if (shift) { box.el.style.marginTop = shift + "px"; }
    });
    var legend = document.getElementById("legend");
    if (legend) {
      var area = legend.getBoundingClientRect();
      var under = Array.prototype.slice.call(document.querySelectorAll(
        ".pw-alarm-icon, .leaflet-tooltip.pw-alarm-label, .leaflet-tooltip.pw-gap-label"))
        .some(function (el) { return overlaps(el.getBoundingClientRect(), area); });
      // A hotspot's pin under the legend (drawn on the canvas: found through the map).
      if (!under && pw.map && legend.open !== false) {
        var box = pw.map.getContainer().getBoundingClientRect();
        pw.map.eachLayer(function (layer) {
          var f = layer.feature;
          if (under || !f || !f.properties || !f.properties.pin || !layer.getLatLng) { return; }
          var pt = pw.map.latLngToContainerPoint(layer.getLatLng());
          var x = box.left + pt.x, y = box.top + pt.y;
          under = x > area.left - 12 && x < area.right + 12 && y > area.top - 12 &&
                  y < area.bottom + 12;
        });
      }
      legend.classList.toggle("pw-legend-yield", under);
    }
  };

  // Replay: markers glide from one frame to the next. The frame layer is rebuilt each tick
  // (dash-leaflet GeoJSON); each new marker starts where the unit was drawn last and moves
  // to its new place over the play interval, so units move rather than jump. A jump (a
  // step, a new period, a scrub) is not animated: it is not movement.
  var GLIDE_MS = 950;
  var GLIDE_MAX_M = 1500;
  var glide = {last: {}};
  pw.replay = {
    pointToLayer: function (feature, latlng, context) {
      var id = feature.properties.id;
      var from = glide.last[id];
      glide.last[id] = latlng;
      var far = !from || from.distanceTo(latlng) > GLIDE_MAX_M || from.equals(latlng);
      var layer = pw.units.pointToLayer(feature, far ? latlng : from, context);
      if (!far) {
        var start = null;
        var step = function (now) {
          if (start === null) { start = now; }
          var t = Math.min(1, (now - start) / GLIDE_MS);
          layer.setLatLng([from.lat + (latlng.lat - from.lat) * t,
                           from.lng + (latlng.lng - from.lng) * t]);
          if (t < 1 && (layer._map || start === now)) { window.requestAnimationFrame(step); }
        };
        window.requestAnimationFrame(step);
      }
      return layer;
    }
  };

  // A phone's map is small: its legend starts folded (a tap opens it), so it and the basemap
  // notice do not cover a third of the map.
  function foldLegend() {
    var legend = document.getElementById("legend");
    if (!legend) { setTimeout(foldLegend, 100); return; }
    if ((window.innerWidth || 1000) <= 800 && legend.tagName === "DETAILS") {
      legend.open = false;
    }
  }
  foldLegend();

  var clutterPending = false;
  pw.declutterSoon = function () {
    if (clutterPending) { return; }
    clutterPending = true;
    window.requestAnimationFrame(function () { clutterPending = false; pw.declutter(); });
  };

  var watched = null;
  function watch(map) {
    pw.map = pw.map || map;
    if (watched === map) { return; }
    watched = map;
    map.on("zoomend moveend resize", pw.declutterSoon);
  }

  // Relative times ("2 min ago") are written here, once a second, into empty spans that
  // carry their epoch time in data-ts: the server then re-sends a list only when its data
  // changes. Same wording as dashboard/times.py.
  pw.duration = function (seconds) {
    seconds = Math.max(0, seconds);
    if (seconds < 60) { return Math.floor(seconds) + " s"; }
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) { return minutes + " min"; }
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    if (hours < 48) { return minutes ? hours + " h " + minutes + " min" : hours + " h"; }
    var days = Math.floor(hours / 24);
    hours = hours % 24;
    return hours ? days + " d " + hours + " h" : days + " d";
  };

  pw.ago = function (ts, now, form) {
    if (ts === "" || isNaN(ts)) { return form ? "" : "never"; }
    var age = now - ts;
    if (form === "for") { return pw.duration(age); }
    if (form === "overdue") { return age < 60 ? "due now" : pw.duration(age) + " overdue"; }
    return age < 10 ? "just now" : pw.duration(age) + " ago";
  };

  function writeAges() {
    var now = Date.now() / 1000;
    var spans = document.querySelectorAll("span.pw-ago[data-ts]");
    for (var i = 0; i < spans.length; i++) {
      var raw = spans[i].getAttribute("data-ts");
      var text = pw.ago(raw === "" ? "" : parseFloat(raw), now,
                        spans[i].getAttribute("data-form"));
      if (spans[i].textContent !== text) { spans[i].textContent = text; }
    }
  }

  var pending = false;
  function soon() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(function () { pending = false; writeAges(); });
    }
  }

  function startAges() {
    setInterval(writeAges, 1000);
    // Fill new rows at once, not up to a second later.
    new MutationObserver(soon).observe(document.body, {childList: true, subtree: true});
  }

  // The EMERGENCY alarm tone. Browsers allow sound only after the person has interacted
  // with the page, so the header shows a hint until the first click or key press. The tone
  // repeats while any EMERGENCY is unacknowledged (the banner has class pw-emergency-loud).
  pw.alarm = {enabled: false, sounding: false, beeps: 0, context: null};
  var ALARM_EVERY_MS = 1500;

  function enableSound() {
    if (pw.alarm.enabled) { return; }
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { return; }
    try {
      pw.alarm.context = pw.alarm.context || new Ctx();
      if (pw.alarm.context.state === "suspended") { pw.alarm.context.resume(); }
      pw.alarm.enabled = true;
      document.body.classList.add("pw-sound-on");
    } catch (err) {
      pw.alarm.enabled = false;
    }
  }

  function tone(ctx, at, frequency) {
    var osc = ctx.createOscillator();
    var gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
    osc.connect(gain);
    gain.connect(ctx.destination);
    osc.start(at);
    osc.stop(at + 0.24);
  }

  function alarmTick() {
    var loud = document.querySelector(".pw-emergency-loud") !== null;
    pw.alarm.sounding = loud && pw.alarm.enabled;
    if (!pw.alarm.sounding) { return; }
    var ctx = pw.alarm.context;
    var now = ctx.currentTime;
    tone(ctx, now, 880);
    tone(ctx, now + 0.28, 660);
    pw.alarm.beeps += 1;
  }

  function startAlarm() {
    document.addEventListener("pointerdown", enableSound, true);
    document.addEventListener("keydown", enableSound, true);
    setInterval(alarmTick, ALARM_EVERY_MS);
  }

  // While the pointer is on a list that holds buttons (the gap list), the server leaves the
  // list as it is, so a Task button cannot move away under a click: the page tells it
  // through a dcc.Store ("gap-hold"). The hold ends when the pointer leaves, or after
  // HOLD_IDLE_MS without a move, so a pointer left resting there never freezes the list.
  var HOLD_IDLE_MS = 15000;
  var holdTimer = null;
  var holding = false;

  function setHold(on) {
    if (on === holding) { return; }
    var dc = window.dash_clientside;
    // The store renders no element; the gap list shows the control-room page holds it.
    if (!dc || !dc.set_props || !document.getElementById("gap-list")) { return; }
    holding = on;
    try {
      dc.set_props("gap-hold", {data: on ? Date.now() : null});
    } catch (err) {
      holding = false;
    }
  }

  function onPointer(event) {
    var inside = event.target && event.target.closest && event.target.closest("#gap-list");
    if (!inside) { setHold(false); return; }
    setHold(true);
    if (holdTimer) { clearTimeout(holdTimer); }
    holdTimer = setTimeout(function () { setHold(false); }, HOLD_IDLE_MS);
  }

  function startHold() {
    document.addEventListener("pointermove", onPointer, true);
    document.addEventListener("pointerover", onPointer, true);
    document.addEventListener("pointerdown", onPointer, true);
    document.documentElement.addEventListener("pointerleave", function () { setHold(false); });
  }

  function start() {
    startAges();
    startAlarm();
    startHold();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})(window.patrolwatch);
