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
        var icon = L.divIcon({
          className: "pw-alarm-icon",
          html: '<span class="pw-alarm-ring"></span><span class="pw-alarm-dot"></span>',
          iconSize: [40, 40],
          iconAnchor: [20, 20]
        });
        var alarm = L.marker(latlng, {icon: icon, zIndexOffset: 10000, keyboard: false});
        alarm.bindTooltip("EMERGENCY " + esc(callsign), {
          permanent: true, direction: "right", offset: [16, 0], className: "pw-alarm-label"
        });
        return alarm;
      }
      var options = {radius: 6, weight: 1, color: "#111827",
                     fillColor: look[1], fillOpacity: 1};
      var text = esc(callsign) + " · " + esc(look[0]);
      if (p.l) {
        var lost = context.hideout.lost;
        options = {radius: 6, weight: 2, color: lost[1], dashArray: "2 3",
                   fillColor: lost[1], fillOpacity: 0.12};
        text += " · " + esc(lost[0]);
      }
      var marker = L.circleMarker(latlng, options);
      marker.bindTooltip(text, {direction: "top", offset: [0, -6]});
      return marker;
    }
  };

  // Hotspot areas, plus a pin at each centroid so a 150 m hotspot stays visible city-wide.
  pw.hotspots = {
    pointToLayer: function (feature, latlng) {
      if (feature.properties.pin) {
        return L.circleMarker(latlng, {radius: 9});
      }
      return L.circle(latlng, {radius: feature.properties.radius_m || 150});
    },
    style: function (feature, context) {
      var state = context.hideout.s[feature.properties.id] || "no_data";
      var style = context.hideout.styles[state];
      if (feature.properties.pin) {
        // A thick hollow ring: never mistaken for a unit's filled dot.
        return Object.assign({}, style, {radius: state === "gap" ? 14 : 11,
                                         weight: state === "gap" ? 6 : 4, fillOpacity: 0.08});
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

})(window.patrolwatch);
