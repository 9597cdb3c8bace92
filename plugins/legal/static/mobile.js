// Keeps the ticket page current: refetch on every pushed legal event, and every 20 s anyway
// (a phone's connection drops when the screen locks).
(function () {
  "use strict";
  var body = document.body;
  var timer = null;

  function set(id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } }

  function render(s) {
    set("service", s.service);
    set("status", s.status_text);
    document.getElementById("status").className = "status status-" + s.status;
    var called = document.getElementById("called");
    called.hidden = s.status !== "called";
    called.textContent = s.call_text || "";
    document.getElementById("facts").hidden = s.status !== "waiting";
    set("ahead", s.ahead === null ? "" : String(s.ahead));
    set("wait", s.wait || "");
    var notice = document.getElementById("notice");
    notice.hidden = !s.notice;
    notice.textContent = s.notice || "";
    body.dataset.status = s.status;
  }

  function refresh() {
    clearTimeout(timer);
    fetch(body.dataset.json, { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) { render(s); } })
      .catch(function () {})
      .then(function () { timer = setTimeout(refresh, 20000); });
  }

  if (window.EventSource) {
    var stream = window.kioskLive(body.dataset.stream);
    // Said on the page once the stream is open (tests wait for it instead of sleeping).
    stream.addEventListener("open", function () { body.dataset.live = "1"; });
    ["legal.ticket_called", "legal.ticket_served", "legal.ticket_no_show", "legal.ticket_transferred",
     "legal.ticket_issued", "legal.counter_paused", "legal.ticket_expired", "legal.ticket_updated",
     "legal.queue_updated"].forEach(function (name) {
      stream.addEventListener(name, refresh);
    });
  }
  timer = setTimeout(refresh, 20000);
})();
