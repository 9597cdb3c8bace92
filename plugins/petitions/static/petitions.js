// Petition screens on the kiosk: contact fields on demand, no double submit, receipt status.
(function () {
  "use strict";

  // Contact fields show only after "Leave my mobile number" is tapped.
  var anonymous = document.querySelector('#pt-form input[name="anonymous"]');
  var contact = document.getElementById("pt-contact");
  if (anonymous && contact) {
    anonymous.addEventListener("input", function () {
      contact.hidden = anonymous.value !== "0";
      if (!contact.hidden) {
        var phone = document.getElementById("pt-phone");
        if (phone && !phone.value) { phone.focus(); }
      }
    });
  }

  // A second tap while the page is sending would file the request twice.
  document.querySelectorAll("#pt-form, #pt-rate").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (form.dataset.sent === "1") { ev.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  });

  // Tell the resident whether the receipt came out.
  var status = document.getElementById("pt-print");
  if (status && status.dataset.job) {
    var tries = 0;
    var poll = function () {
      tries += 1;
      fetch("/print-jobs/" + encodeURIComponent(status.dataset.job), {
        credentials: "same-origin", headers: { "Accept": "application/json" }
      }).then(function (r) {
        if (!r.ok) { throw new Error("status " + r.status); }
        return r.json();
      }).then(function (job) {
        if (job.state === "done") {
          status.textContent = status.dataset.labelDone; status.className = "pt-print ok";
        } else if (job.state === "failed") {
          status.textContent = status.dataset.labelFailed; status.className = "pt-print failed";
        } else if (tries < 40) {
          setTimeout(poll, 750);
        } else {
          status.textContent = status.dataset.labelUnknown;
        }
      }).catch(function () {
        status.textContent = status.dataset.labelUnknown;
      });
    };
    poll();
  }
})();
