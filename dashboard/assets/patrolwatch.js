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

  pw.units = {
    pointToLayer: function (feature, latlng, context) {
      pw.map = context.map;
      var p = feature.properties;
      var look = context.hideout.st[p.s] || ["?", "#000000"];
      var callsign = context.hideout.cs[p.id] || p.id;
      if (p.s === "E") {
        // Pulsing until a supervisor acknowledges it (p.k), then a steady marker.
        var ring = p.k ? "" : '<span class="pw-alarm-ring"></span>';
        var icon = L.divIcon({
          className: "pw-alarm-icon" + (p.k ? " pw-alarm-icon-acked" : ""),
          html: ring + '<span class="pw-alarm-dot"></span>',
          iconSize: [40, 40],
          iconAnchor: [20, 20]
        });
        var alarm = L.marker(latlng, {icon: icon, zIndexOffset: 10000, keyboard: false});
        alarm.bindTooltip("EMERGENCY " + esc(callsign) + (p.k ? " (acknowledged)" : ""), {
          permanent: true, direction: "right", offset: [16, 0],
          className: "pw-alarm-label" + (p.k ? " pw-alarm-acked" : "")
        });
        return alarm;
      }
      var options = {radius: 6, weight: 1, color: "#111827",
                     fillColor: look[1], fillOpacity: 1};
      var text = esc(callsign) + " · " + esc(look[0]);
      if (p.l) {
        var lost = context.hideout.lost;
        // Hollow and dashed: the last known place, not a live position.
        options = {radius: 7, weight: 2.5, color: lost[1], dashArray: "3 3",
                   fillColor: "#ffffff", fillOpacity: 0.7};
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
        var quiet = state === "inactive";
        return Object.assign({}, style, {radius: state === "gap" ? 14 : quiet ? 8 : 11,
                                         weight: state === "gap" ? 6 : quiet ? 2 : 4,
                                         dashArray: null, fillOpacity: 0.08});
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
    }
  };

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

  pw.ago = function (ts, now) {
    if (ts === "" || isNaN(ts)) { return "never"; }
    var age = now - ts;
    return age < 10 ? "just now" : pw.duration(age) + " ago";
  };

  function writeAges() {
    var now = Date.now() / 1000;
    var spans = document.querySelectorAll("span.pw-ago[data-ts]");
    for (var i = 0; i < spans.length; i++) {
      var raw = spans[i].getAttribute("data-ts");
      var text = pw.ago(raw === "" ? "" : parseFloat(raw), now);
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

  function start() {
    startAges();
    startAlarm();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})(window.patrolwatch);
