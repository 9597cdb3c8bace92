// 呼叫工作人员: send the call without leaving the page (what the resident typed stays),
// then say plainly that staff are coming. Without this script the form posts and the
// next page says the same. Plain JavaScript; the page's CSP forbids inline script.
(function () {
  "use strict";
  var status = null;
  var hideTimer = null;

  function say(text, ok) {
    if (!status) {
      status = document.createElement("div");
      status.className = "call-staff-status";
      status.id = "call-staff-status";
      status.setAttribute("role", "status");
      status.setAttribute("aria-live", "assertive");
      document.body.appendChild(status);
    }
    status.textContent = text;
    status.classList.toggle("failed", !ok);
    status.hidden = false;
    clearTimeout(hideTimer);
    hideTimer = setTimeout(function () { status.hidden = true; }, 15000);
  }

  document.querySelectorAll("form[data-call-staff]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var buttons = document.querySelectorAll("form[data-call-staff] button");
      buttons.forEach(function (b) { b.disabled = true; });
      fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "Accept": "application/json" }
      })
        .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
        .then(function (res) {
          say(res.data.message || res.data.error || "", res.ok);
          if (res.ok) { document.body.dataset.staffCalled = String(res.data.call); }
        })
        .catch(function () { form.submit(); })  // no answer: post the plain form instead
        .then(function () { buttons.forEach(function (b) { b.disabled = false; }); });
    });
  });
})();
