// The kiosk shell's behaviour: idle reset, card/scanner reads, small helpers.
// Plain JavaScript, no libraries; the page's CSP forbids inline script.
(function () {
  "use strict";
  var body = document.body;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // POST helper for plugin scripts: sends the CSRF token, returns parsed JSON.
  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(data || {})
    }).then(function (r) { return r.json().then(function (j) { j._status = r.status; return j; }); });
  }

  // ---- Idle reset -------------------------------------------------------
  // After data-idle seconds without a touch, show a countdown with "I'm still
  // here"; when it runs out, forget everything the last user entered.
  var overlay = document.getElementById("idle-overlay");
  var countEl = document.getElementById("idle-count");
  var idleSeconds = parseInt(body.dataset.idle || "60", 10);
  var countdownSeconds = parseInt(body.dataset.countdown || "15", 10);
  var idleTimer = null, tickTimer = null, remaining = 0;
  // The home screen times out too (issue 19.2): a rider who left with 首页 must not
  // stay identified. A home reached from a service screen (marked in sessionStorage,
  // which the reset clears) counts down at once; a clean home (nothing chosen since
  // the last reset) starts the timer only once someone touches it.
  var used = false;
  try {
    used = sessionStorage.getItem("kiosk.used") === "1";
    if (body.dataset.screen !== "home" && body.classList.contains("kiosk") && !body.classList.contains("bare")) {
      sessionStorage.setItem("kiosk.used", "1");
    }
  } catch (e) { /* storage may be disabled */ }
  var onCleanHome = body.dataset.screen === "home" && body.dataset.dirty !== "yes" && !used;
  var touched = false;
  // A wall display (data-idle="0", or a page shown on a terminal enrolled as a
  // display) has no user to time out; nor has a counter, whose staff log out.
  var terminalKind = body.dataset.terminalKind || "";
  var noIdle = idleSeconds <= 0 || terminalKind === "display" || terminalKind === "counter";

  function clearEverything() {
    if (window.KioskOSK && window.KioskOSK.reset) { window.KioskOSK.reset(); }
    document.querySelectorAll("form").forEach(function (f) { f.reset(); });
    document.querySelectorAll("input:not([type=hidden]), textarea").forEach(function (el) { el.value = ""; });
    try { sessionStorage.clear(); localStorage.clear(); } catch (e) { /* storage may be disabled */ }
  }

  function resetNow() {
    clearEverything();
    stopTimers();
    stopPrintWatches();
    var form = document.getElementById("idle-reset");
    fetch(body.dataset.reset, {
      method: "POST", credentials: "same-origin", redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf },
      body: "csrf_token=" + encodeURIComponent(csrf)
    }).catch(function () {}).then(function () {
      // replace(): the back button must not lead to the last user's screen.
      window.location.replace(body.dataset.home);
    });
    if (form) { form.dataset.sent = "1"; }
  }

  function stopTimers() {
    clearTimeout(idleTimer); clearInterval(tickTimer);
    idleTimer = tickTimer = null;
  }

  function showCountdown() {
    remaining = countdownSeconds;
    countEl.textContent = String(remaining);
    overlay.hidden = false;
    document.getElementById("idle-stay").focus();
    tickTimer = setInterval(function () {
      remaining -= 1;
      countEl.textContent = String(Math.max(remaining, 0));
      if (remaining <= 0) { resetNow(); }
    }, 1000);
  }

  function armIdle() {
    if ((onCleanHome && !touched) || noIdle || !overlay) { return; }
    stopTimers();
    overlay.hidden = true;
    idleTimer = setTimeout(showCountdown, idleSeconds * 1000);
  }

  if (overlay) {
    document.getElementById("idle-stay").addEventListener("click", armIdle);
    document.getElementById("idle-reset").addEventListener("submit", function (ev) {
      ev.preventDefault(); resetNow();
    });
    // Any touch, key or input counts as someone still there, caught in the capture
    // phase so that no widget's own handler can swallow it; the on-screen keyboard
    // also announces each key tap and handwriting stroke as "kiosk:activity".
    // While the countdown shows (above everything, the keyboard included) only
    // its own buttons, a tap on its dimmed backdrop, or such an announcement count.
    function activity() {
      touched = true;
      if (overlay.hidden) { armIdle(); }
    }
    ["pointerdown", "keydown", "input", "touchstart"].forEach(function (type) {
      document.addEventListener(type, activity, { passive: true, capture: true });
    });
    window.addEventListener("kiosk:activity", function () { touched = true; armIdle(); });
    overlay.addEventListener("pointerdown", function (ev) { if (ev.target === overlay) { armIdle(); } });
    armIdle();
  }

  // The service worker shows a calm "reconnecting" page, which goes home by itself,
  // where a tap while the server restarts would end on Chromium's error page
  // (issue 19.3, kiosk/offline.py). Kiosk screens only: phones have their own browser.
  if (navigator.serviceWorker && body.dataset.sw && body.classList.contains("kiosk") && !body.classList.contains("bare")) {
    navigator.serviceWorker.register(body.dataset.sw, { scope: "/" }).catch(function () { /* not a secure origin */ });
  }

  // Back from the browser's cache would show a stale screen: reload instead.
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) { window.location.reload(); } });
  document.addEventListener("contextmenu", function (ev) { if (body.classList.contains("kiosk")) { ev.preventDefault(); } });

  // ---- Card and scanner reads ------------------------------------------
  // The server only sends reads made at this terminal that a plugin claimed for
  // this screen; only an enrolled terminal (data-terminal) may listen at all.
  // What a read fills in or links to is a claim ("rc_…") the server takes back
  // once, from this terminal, within seconds.
  var reader = null;
  if (window.EventSource && body.dataset.terminal && body.classList.contains("kiosk") && !body.classList.contains("bare")) {
    reader = window.kioskLive("/events/reader?screen=" + encodeURIComponent(body.dataset.screen || ""));
    reader.addEventListener("reader", function (ev) {
      var action;
      try { action = JSON.parse(ev.data); } catch (e) { return; }
      document.dispatchEvent(new CustomEvent("kiosk:reader", { detail: action }));
      if (action.fill) {
        Object.keys(action.fill).forEach(function (name) {
          var el = document.querySelector('[name="' + CSS.escape(name) + '"]');
          if (el) {
            el.value = action.fill[name];
            el.dispatchEvent(new Event("input", { bubbles: true }));
          }
        });
      }
      if (action.submit) {
        var form = document.querySelector(action.submit);
        if (form) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
      }
      if (action.redirect) { window.location.assign(action.redirect); }
    });
  }
  window.addEventListener("pagehide", function () { if (reader) { reader.close(); } });

  // Buttons that toggle aria-pressed choices inside a group (one of many).
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-choice-group]");
    if (!btn) { return; }
    var group = btn.dataset.choiceGroup;
    document.querySelectorAll('[data-choice-group="' + group + '"]').forEach(function (b) {
      b.setAttribute("aria-pressed", b === btn ? "true" : "false");
    });
    var target = document.querySelector('input[name="' + group + '"]');
    if (target) {
      target.value = btn.dataset.value || "";
      target.dispatchEvent(new Event("input", { bubbles: true }));
    }
  });

  // ---- Receipt status ---------------------------------------------------
  // An element marked data-print-job="<job id>" tells the resident whether
  // the receipt came out, in the words its page provides: data-text-printing,
  // data-text-done, data-text-failed, and data-text-unknown for "we could not
  // ask the printer" (without it that case reads as failed). What was printed
  // (a ticket, a voucher) stands either way; only the words change. A printer
  // that never answers must not leave "Printing…" up for ever, so the watch
  // ends after data-print-timeout seconds (30 by default).
  var PRINT_POLL_MS = 600;
  var printWatches = [];

  // Final states: "done" (the printer confirmed it), "sent" (it went to the printer, which never
  // confirmed it: the resident is told to check, not promised a ticket), "failed", "unknown".
  var PRINT_FINAL = ["done", "sent", "failed", "unknown"];

  function watchPrint(el) {
    var job = el.dataset.printJob;
    if (!job) { return Promise.resolve("none"); }
    var started = Date.now();
    var limit = parseInt(el.dataset.printTimeout || "30", 10) * 1000;
    var unknown = el.dataset.textUnknown ? "unknown" : "failed";
    var watch = { timer: null, stopped: false, finish: null };
    printWatches.push(watch);

    function show(state) {
      var words = {
        done: el.dataset.textDone,
        // A page without words for "sent" says what it says when it cannot tell: never "printed".
        sent: el.dataset.textSent || el.dataset.textUnknown || el.dataset.textFailed,
        failed: el.dataset.textFailed,
        unknown: el.dataset.textUnknown
      };
      el.textContent = words[state] || el.dataset.textPrinting || "";
      el.classList.toggle("done", state === "done");
      el.classList.toggle("sent", state === "sent");
      el.classList.toggle("failed", state === "failed");
      el.dataset.state = state;
    }

    function poll() {
      if (watch.stopped) { return; }
      fetch("/print-jobs/" + encodeURIComponent(job), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { state: unknown }; })
        // The network hiccuped: ask again until the time is up.
        .catch(function () { return { state: "queued" }; })
        .then(function (found) {
          if (watch.stopped) { return; }
          var state = found.state;
          var final = PRINT_FINAL.indexOf(state) >= 0;
          if (!final && Date.now() - started > limit) {
            state = unknown;
            final = true;
          }
          show(state);
          if (final) { end(state); return; }
          watch.timer = setTimeout(poll, PRINT_POLL_MS);
        });
    }

    function end(state) {
      printWatches.splice(printWatches.indexOf(watch), 1);
      watch.finish(state);
    }

    return new Promise(function (resolve) {
      watch.finish = resolve;
      show("queued");
      poll();
    });
  }

  // The page is going away or the next resident is coming: stop asking.
  function stopPrintWatches() {
    printWatches.splice(0).forEach(function (watch) {
      watch.stopped = true;
      clearTimeout(watch.timer);
      watch.finish("stopped");
    });
  }

  document.querySelectorAll("[data-print-job]").forEach(function (el) { watchPrint(el); });
  window.addEventListener("pagehide", stopPrintWatches);

  window.Kiosk = { post: post, csrf: csrf, resetNow: resetNow, armIdle: armIdle, watchPrint: watchPrint };
})();
