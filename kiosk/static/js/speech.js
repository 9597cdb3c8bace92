// Spoken guidance (kiosk/speech.py): the server puts <audio id="speech-guide"> on a kiosk
// screen when this visitor hears the screens; play it once the page is shown, and again
// on "Hear it again". The appliance's Chromium allows playback without a tap
// (--autoplay-policy=no-user-gesture-required, deploy/systemd/kiosk-display.service);
// elsewhere the first tap anywhere plays it.
(function () {
  "use strict";
  var audio = document.getElementById("speech-guide");
  var again = document.getElementById("speech-again");
  if (!audio) return;
  var played = false;
  function play() {
    try { audio.currentTime = 0; } catch (e) { /* not loaded yet */ }
    var p = audio.play();
    if (p && p.then) {
      p.then(function () { played = true; }, function () { /* blocked until a tap: see below */ });
    }
  }
  if (again) {
    again.hidden = false;
    again.addEventListener("click", play);
  }
  document.addEventListener("pointerdown", function first(ev) {
    if (!played && !(again && again.contains(ev.target))) play();
    document.removeEventListener("pointerdown", first, true);
  }, true);
  // Another page's sound stops when this one goes (bfcache or navigation).
  window.addEventListener("pagehide", function () { audio.pause(); });
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) play(); });
  play();
})();
