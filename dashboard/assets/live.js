/* The live map's units, drawn from the picture the server sends (dashboard/picture/).
 *
 * The server sends the whole units layer once, then only the steps since the version the
 * browser holds: entries [id, lon, lat, status code, flags] that moved, changed or appeared,
 * and ids that left the map. A marker that only moved is moved (setLatLng); one whose look
 * changed is drawn again with patrolwatch.units.pointToLayer. The work runs in slices of
 * 16 ms per animation frame, so even the first 10,000 markers never freeze the
 * page. `receive` returns the version now held (to the picture-have store, which the next
 * refresh sends), or null to ask for the whole layer when a step is missing.
 */
window.patrolwatch = window.patrolwatch || {};
window.dash_clientside = window.dash_clientside || {};

(function (pw) {
  "use strict";
  var BUDGET_MS = 16; // work per animation frame: frames stay short while the map catches up
  var FLAG_LOST = 1;
  var FLAG_ACKED = 2;
  var live = pw.live = {have: null, layers: {}, looks: {}, queue: [], group: null,
                        hideout: null, running: false};

  if (window.L && window.L.Map && window.L.Map.addInitHook) {
    window.L.Map.addInitHook(function () { pw.map = pw.map || this; });
  }

  function feature(e) {
    var p = {id: e[0], s: e[3]};
    if (e[4] & FLAG_LOST) { p.l = 1; }
    if (e[4] & FLAG_ACKED) { p.k = 1; }
    return {type: "Feature", geometry: {type: "Point", coordinates: [e[1], e[2]]},
            properties: p};
  }

  // The unit picked in a list is ringed on the map until its panel is closed (issue 17):
  // centred alone, it could not be told from its neighbours.
  live.selected = null;
  live.ring = null;

  function ringAt(latlng) {
    if (!pw.map || !live.selected) { return; }
    if (!live.ring) {
      var s = pw.scale ? pw.scale() : 1;
      live.ring = window.L.circleMarker(latlng, {
        radius: 15 * s, weight: 4 * s, color: "#facc15", opacity: 1, fill: false,
        interactive: false, pwSelected: live.selected, className: "pw-selected-ring"
      }).addTo(pw.map);
    } else {
      live.ring.setLatLng(latlng);
      live.ring.options.pwSelected = live.selected;
    }
    live.ring.bringToFront();
  }

  live.select = function (unit) {
    live.selected = unit || null;
    if (live.ring) {
      live.ring.remove();
      live.ring = null;
    }
    var layer = unit && live.layers[unit];
    if (layer) { ringAt(layer.getLatLng()); }
  };

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target || !target.closest) { return; }
    if (target.closest("#unit-close")) { live.select(null); return; }
    var row = target.closest(".pw-unit-row");
    if (!row || !row.id) { return; }
    try { live.select(JSON.parse(row.id).unit); } catch (err) { /* not a unit row */ }
  }, true);

  // The first whole layer: show the fleet (a 4K wall shows all of it, a laptop too), once.
  live.fitted = false;

  function fitFleet() {
    if (live.fitted || !pw.map) { return; }
    var points = [];
    Object.keys(live.layers).forEach(function (id) {
      var f = live.layers[id].feature;
      if (!f.properties.l) { points.push(live.layers[id].getLatLng()); }
    });
    if (points.length < 2) { return; }
    live.fitted = true;
    // Room on the left for the legend, so it covers no unit and no hotspot of the first view.
    var legend = document.getElementById("legend");
    var left = legend && legend.open !== false ? legend.offsetWidth + 24 : 24;
    pw.map.fitBounds(window.L.latLngBounds(points), {
      paddingTopLeft: [left, 24], paddingBottomRight: [24, 24], maxZoom: 15, animate: false});
  }

  function put(e) {
    var id = e[0];
    var look = e[3] + e[4];
    var old = live.layers[id];
    if (id === live.selected) { ringAt([e[2], e[1]]); }
    if (old && live.looks[id] === look) {
      old.feature.geometry.coordinates = [e[1], e[2]];
      old.setLatLng([e[2], e[1]]);
      return;
    }
    if (old) { live.group.removeLayer(old); }
    var f = feature(e);
    var layer = pw.units.pointToLayer(f, window.L.latLng(e[2], e[1]),
                                      {map: pw.map, hideout: live.hideout});
    layer.feature = f;
    live.group.addLayer(layer);
    live.layers[id] = layer;
    live.looks[id] = look;
  }

  function drop(id) {
    var old = live.layers[id];
    if (old) {
      live.group.removeLayer(old);
      delete live.layers[id];
      delete live.looks[id];
    }
  }

  function work() {
    if (!pw.map || !live.hideout) { setTimeout(work, 50); return; }
    if (!live.group) { live.group = window.L.layerGroup().addTo(pw.map); }
    var until = performance.now() + BUDGET_MS;
    jobs: while (live.queue.length) {
      var job = live.queue[0];
      if (job.clear) {
        live.group.clearLayers();
        live.layers = {};
        live.looks = {};
        live.queue.shift();
        continue;
      }
      while (job.i < job.u.length) {
        put(job.u[job.i]);
        job.i += 1;
        if ((job.i & 63) === 0 && performance.now() > until) { break jobs; }
      }
      for (var k = 0; k < job.d.length; k++) { drop(job.d[k]); }
      live.queue.shift();
    }
    if (live.queue.length) {
      window.requestAnimationFrame(work);
    } else {
      live.running = false;
      fitFleet();
    }
  }

  live.receive = function (text, hideout) {
    var noUpdate = window.dash_clientside.no_update;
    live.hideout = hideout;
    if (!text) { return noUpdate; }
    var msg = JSON.parse(text);
    if (msg.full) {
      live.queue = [{clear: true}, {u: msg.u, d: [], i: 0}];
      live.have = msg.v;
    } else {
      var steps = msg.steps || [];
      if (live.have === null || (steps.length && steps[0].v - 1 > live.have)) {
        live.have = null; // a gap: ask for the whole layer
        return null;
      }
      for (var i = 0; i < steps.length; i++) {
        if (steps[i].v > live.have) {
          live.queue.push({u: steps[i].u, d: steps[i].d, i: 0});
          live.have = steps[i].v;
        }
      }
    }
    if (!live.running) {
      live.running = true;
      window.requestAnimationFrame(work);
    }
    return live.have;
  };

  // Fly to a unit clicked in a list, from where its marker is now.
  live.flyTo = function (clicks, hideout) {
    var noUpdate = window.dash_clientside.no_update;
    var fired = window.dash_clientside.callback_context.triggered || [];
    if (!fired.length || !fired[0].value) { return noUpdate; }
    var propId = fired[0].prop_id;
    var unit;
    try {
      unit = JSON.parse(propId.slice(0, propId.lastIndexOf("."))).unit;
    } catch (err) {
      return noUpdate;
    }
    var layer = live.layers[unit];
    if (!layer) { return noUpdate; }
    var ll = layer.getLatLng();
    return {center: [ll.lat, ll.lng], zoom: (hideout && hideout.zoom) || 17,
            transition: "flyTo", options: {duration: 0.6}};
  };

  window.dash_clientside.patrolwatch = Object.assign(window.dash_clientside.patrolwatch || {},
                                                     {receive: live.receive, flyTo: live.flyTo});
})(window.patrolwatch);
