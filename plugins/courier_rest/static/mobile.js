// The rider's phone page: reload when the station reports a change, so a freed
// slot shows at once (the page's meta refresh is the fallback).
(function () {
  "use strict";
  var url = document.body.dataset.events;
  if (!url || !window.EventSource || !document.querySelector("[data-testid=waiting], [data-testid=offer], [data-testid^=holding]")) {
    return;
  }
  var stream = window.kioskLive(url);
  var timer = null;
  function reloadSoon() {
    clearTimeout(timer);
    timer = setTimeout(function () { window.location.reload(); }, 400);
  }
  stream.addEventListener("courier_rest.slot_ready", reloadSoon);
  stream.addEventListener("courier_rest.capacity", reloadSoon);
  window.addEventListener("pagehide", function () { stream.close(); });
})();
