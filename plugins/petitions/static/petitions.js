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

  // Phrase chips: a tap writes the phrase into the description (after what is there, with a comma),
  // where the resident can go on writing; tapping it again does not write it twice.
  document.querySelectorAll("[data-phrases-for]").forEach(function (group) {
    var box = document.getElementById(group.dataset.phrasesFor);
    if (!box) { return; }
    group.addEventListener("click", function (ev) {
      var chip = ev.target.closest("[data-phrase]");
      if (!chip) { return; }
      var phrase = chip.dataset.phrase;
      var text = box.value.replace(/\s+$/, "");
      if (text.indexOf(phrase) === -1) {
        var joined = text ? text + (/[，。！？、；：,.!?;:]$/.test(text) ? "" : "，") + phrase : phrase;
        var max = parseInt(box.getAttribute("maxlength") || "0", 10);
        if (!max || joined.length <= max) { box.value = joined; }
      }
      chip.setAttribute("aria-pressed", "true");
      box.dispatchEvent(new Event("input", { bubbles: true }));
      window.dispatchEvent(new Event("kiosk:activity"));
    });
  });

  // A second tap while the page is sending would file the request twice.
  document.querySelectorAll("#pt-form, #pt-rate").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (form.dataset.sent === "1") { ev.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  });
})();
