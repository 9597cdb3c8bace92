// Petition screens on the kiosk: contact fields on demand, no double submit.
// (Whether the receipt printed is the core's job: data-print-job, see kiosk.js.)
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
})();
