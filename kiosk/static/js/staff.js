// Staff pages: confirm destructive actions; refresh panels that ask for it.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.dataset.confirm;
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });
  var refresh = document.querySelector("[data-refresh-seconds]");
  if (refresh) {
    var seconds = parseInt(refresh.dataset.refreshSeconds, 10) || 30;
    setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }
})();
