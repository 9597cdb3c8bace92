// The staff page follows the station live: reload on a change unless the
// staff member is typing or a page action is under way.
(function () {
  "use strict";
  var box = document.querySelector("[data-events]");
  if (!box || !window.EventSource) { return; }
  var stream = window.kioskLive(box.dataset.events);
  var timer = null;
  function reloadSoon() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var active = document.activeElement;
      if (active && /INPUT|SELECT|TEXTAREA/.test(active.tagName)) { return; }
      window.location.reload();
    }, 1500);
  }
  ["courier_rest.capacity", "courier_rest.slot_ready", "courier_rest.overstay"].forEach(function (name) {
    stream.addEventListener(name, reloadSoon);
  });
  window.addEventListener("pagehide", function () { stream.close(); });
})();
