// Tones of the alarms beyond EMERGENCY (dashboard/alarms/). A new alarm chimes softly every
// 8 s until acknowledged; an escalated one sounds louder every 3 s. Sound needs the first
// click on the page, like the EMERGENCY tone (patrolwatch.js, which owns the audio context).
(function () {
  "use strict";
  var last = 0;
  function beep(ctx, at, frequency, loud) {
    var osc = ctx.createOscillator();
    var gain = ctx.createGain();
    osc.type = loud ? "square" : "sine";
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(loud ? 0.35 : 0.08, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.3);
    osc.connect(gain);
    gain.connect(ctx.destination);
    osc.start(at);
    osc.stop(at + 0.32);
  }
  function tick() {
    var pw = window.pw;
    if (!pw || !pw.alarm || !pw.alarm.enabled || pw.alarm.sounding) { return; }
    var escalated = document.querySelector(".pw-rule-alarms-escalated") !== null;
    var fresh = document.querySelector(".pw-rule-alarms-new") !== null;
    var now = Date.now();
    if (!(escalated || fresh) || now - last < (escalated ? 3000 : 8000)) { return; }
    last = now;
    var ctx = pw.alarm.context;
    var t = ctx.currentTime;
    if (escalated) {
      beep(ctx, t, 988, true); beep(ctx, t + 0.35, 740, true); beep(ctx, t + 0.7, 988, true);
    } else {
      beep(ctx, t, 660, false);
    }
  }
  setInterval(tick, 500);
}());
