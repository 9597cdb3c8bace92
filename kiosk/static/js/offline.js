// The offline page (kiosk/offline.py): ask /healthz every few seconds; as soon as
// the kiosk itself answers (JSON, whatever its status: a proxy's error page is
// not the kiosk), go to the home screen. replace(): "back" must not return here.
(function () {
  "use strict";
  var body = document.body;
  var health = body.dataset.health, home = body.dataset.home;
  var every = parseInt(body.dataset.retry || "2000", 10);
  var asking = false;

  function ask() {
    if (asking) { return; }
    asking = true;
    fetch(health, { cache: "no-store", credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        var type = r.headers.get("Content-Type") || "";
        if (type.indexOf("json") >= 0) { window.location.replace(home); }
      })
      .catch(function () { /* still away: ask again */ })
      .then(function () { asking = false; });
  }

  setInterval(ask, every);
  window.addEventListener("online", ask);
})();
