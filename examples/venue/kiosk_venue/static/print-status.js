// Tells the resident whether the booking slip came out of the printer.
// The booking stands either way; a failed print only changes the words.
(function () {
  "use strict";
  var box = document.getElementById("venue-print");
  if (!box || !box.dataset.jobUrl) { return; }
  var started = Date.now();
  var words = { done: box.dataset.textDone, failed: box.dataset.textFailed };
  function show(state) {
    box.dataset.state = state;
    box.classList.toggle("failed", state === "failed");
    box.textContent = words[state] || box.dataset.textPrinting;
  }
  function poll() {
    fetch(box.dataset.jobUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { state: "failed" }; })
      .catch(function () { return { state: "queued" }; })
      .then(function (job) {
        show(job.state);
        if (job.state === "done" || job.state === "failed") { return; }
        // A printer that never answers must not leave "Printing…" up for ever.
        if (Date.now() - started > 30000) { show("failed"); return; }
        setTimeout(poll, 500);
      });
  }
  show("queued");
  poll();
})();
