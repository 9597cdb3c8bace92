// Shared parking: tell the resident whether the voucher came out of the printer.
// Polls the core's /print-jobs/<id> for up to 40 s; never blocks the screen.
(function () {
  "use strict";
  var el = document.getElementById("parking-print-status");
  if (!el || !el.dataset.jobUrl) { return; }
  var tries = 0;
  var MAX_TRIES = 40;

  function show(state) {
    var label = el.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)];
    if (label) { el.textContent = label; }
    el.classList.toggle("done", state === "done");
    el.classList.toggle("failed", state === "failed");
    el.dataset.state = state;
  }

  function poll() {
    tries += 1;
    fetch(el.dataset.jobUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { state: "failed" }; })
      .then(function (job) {
        show(job.state);
        if ((job.state === "queued" || job.state === "printing") && tries < MAX_TRIES) {
          setTimeout(poll, 1000);
        } else if (job.state !== "done" && job.state !== "failed") {
          show("failed");
        }
      })
      .catch(function () {
        if (tries < MAX_TRIES) { setTimeout(poll, 1500); } else { show("failed"); }
      });
  }
  poll();
})();
