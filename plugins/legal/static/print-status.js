// Tells the resident whether the ticket came out of the printer.
// The ticket exists either way; a failed print only changes the words.
(function () {
  "use strict";
  var box = document.getElementById("print-status");
  if (!box || !box.dataset.jobUrl) { return; }
  var started = Date.now();
  function show(state) {
    box.classList.remove("done", "failed");
    if (state === "done") { box.classList.add("done"); box.textContent = box.dataset.textDone; }
    else if (state === "failed") { box.classList.add("failed"); box.textContent = box.dataset.textFailed; }
    else { box.textContent = box.dataset.textPrinting; }
    box.dataset.state = state;
  }
  function poll() {
    fetch(box.dataset.jobUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { state: "failed" }; })
      .catch(function () { return { state: "queued" }; })
      .then(function (job) {
        show(job.state);
        // A printer that never answers must not leave "Printing…" up forever.
        if (job.state === "done" || job.state === "failed") { return; }
        if (Date.now() - started > 30000) { show("failed"); return; }
        setTimeout(poll, 600);
      });
  }
  show("queued");
  poll();
})();
