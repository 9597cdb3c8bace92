// Staff pages: a resident's call for help shows (and an answered one goes) the moment it
// is pushed, without reloading the page staff are working in.
(function () {
  "use strict";
  var banner = document.querySelector("[data-staff-calls]");
  if (!banner || !window.EventSource) { return; }
  var url = banner.dataset.bannerUrl;
  function refresh() {
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("[data-staff-calls]");
        if (!fresh) { return; }
        fresh.querySelectorAll("input[name=next]").forEach(function (i) { i.value = window.location.pathname; });
        banner.replaceWith(fresh);
        banner = fresh;
      })
      .catch(function () { /* the next event tries again */ });
  }
  var stream = window.kioskLive(banner.dataset.stream);
  stream.addEventListener("staff_calls.called", refresh);
  stream.addEventListener("staff_calls.acknowledged", refresh);
  stream.addEventListener("open", function () { document.body.dataset.staffCallsLive = "1"; });
})();
