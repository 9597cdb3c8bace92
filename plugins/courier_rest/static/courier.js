// 暖蜂驿站 kiosk screens: live free places, slots kept for the waiting list,
// print notes, photos arriving from the phone, and no double taps with gloves.
(function () {
  "use strict";

  // A gloved double tap must not send a form twice (two slots, two requests).
  document.querySelectorAll("form.cr-once").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (form.dataset.sent === "1") { ev.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-busy", "true"); });
    });
  });

  var boardBox = document.querySelector("[data-board-url]");
  var readyBox = document.querySelector("[data-ready]");
  var labels = document.querySelector("[data-label-slot]");

  function showBoard(board) {
    ["seat", "phone", "battery"].forEach(function (kind) {
      var free = document.querySelector('[data-free="' + kind + '"]');
      if (!free || !board[kind]) { return; }
      free.textContent = String(board[kind].free);
      free.closest(".cr-cap").classList.toggle("cr-none", board[kind].free === 0);
      var wait = document.querySelector('[data-waiting="' + kind + '"]');
      if (wait && board.waiting) {
        wait.hidden = !board.waiting[kind];
        wait.querySelector("b").textContent = String(board.waiting[kind] || 0);
      }
    });
  }

  function showReady(ready) {
    if (!readyBox || !labels) { return; }
    var list = readyBox.querySelector("[data-ready-list]");
    var template = document.getElementById("cr-ready-item");
    list.textContent = "";
    ready.forEach(function (r) {
      var item = template.content.cloneNode(true);
      item.querySelector(".cr-no").textContent = r.no;
      item.querySelector(".cr-ready-text").textContent =
        labels.dataset.labelSlot.replace("{slot}", r.slot) + " · " + labels.dataset.labelUntil.replace("{time}", r.until);
      list.appendChild(item);
    });
    readyBox.hidden = ready.length === 0;
  }

  function refresh() {
    fetch(boardBox.dataset.boardUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) { showBoard(data.board); showReady(data.ready); })
      .catch(function () { /* the next event or the timer tries again */ });
  }

  var hazardBox = document.querySelector("[data-hazard-report]");
  if ((boardBox || hazardBox) && window.EventSource) {
    var stream = window.kioskLive("/events/stream?channel=courier_rest");
    stream.addEventListener("courier_rest.capacity", function (ev) {
      if (!boardBox) { return; }
      try { showBoard(JSON.parse(ev.data)); } catch (e) { refresh(); }
      refresh();
    });
    stream.addEventListener("courier_rest.slot_ready", function () { if (boardBox) { refresh(); } });
    stream.addEventListener("courier_rest.hazard_photo", function (ev) {
      if (!hazardBox) { return; }
      var data = {};
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (String(data.report) === hazardBox.dataset.hazardReport) { window.location.reload(); }
    });
    window.addEventListener("pagehide", function () { stream.close(); });
  }
  if (boardBox) { setInterval(refresh, 30000); }

  // A finished rider walks away: the goodbye screen goes home by itself, so the
  // next rider never sees it (the core's idle timer would take a minute).
  var autoHome = document.querySelector("[data-auto-home]");
  if (autoHome) {
    setTimeout(function () { window.location.replace(document.body.dataset.home || "/"); },
      parseInt(autoHome.dataset.autoHome, 10) * 1000);
  }

  // Print buttons: start the job, then the core watches it until the paper is out (or not).
  document.querySelectorAll("[data-print-url]").forEach(function (button) {
    var state = button.parentNode.querySelector("[data-print-state]");
    button.addEventListener("click", function () {
      if (button.disabled) { return; }
      button.disabled = true;
      state.textContent = state.dataset.textPrinting;
      window.Kiosk.post(button.dataset.printUrl, {}).then(function (job) {
        if (!job.job_id) { state.textContent = job.error || state.dataset.textFailed; button.disabled = false; return; }
        state.dataset.printJob = job.job_id;
        // A note that did not come out may be printed again.
        return window.Kiosk.watchPrint(state).then(function (outcome) { button.disabled = outcome === "done"; });
      }).catch(function () { state.textContent = state.dataset.textFailed; button.disabled = false; });
    });
  });
})();
