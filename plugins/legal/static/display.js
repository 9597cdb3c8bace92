// The calling board: shows each call the moment it is pushed and says it aloud.
// Plain JavaScript, no libraries; the page's CSP forbids inline script.
(function () {
  "use strict";
  var body = document.body;
  var voices = (body.dataset.voices || "").split(" ").filter(Boolean);
  var repeat = parseInt(body.dataset.repeat || "1", 10);
  var rows = parseInt(body.dataset.rows || "6", 10);
  var nowBox = document.getElementById("now");
  var soundButton = document.getElementById("sound");
  var queue = [];          // audio URLs still to play, in order
  var playing = false;
  var refreshTimer = null;

  function callText(ticket, counter) {
    return body.dataset.callTemplate.replace("{ticket}", ticket).replace("{counter}", String(counter));
  }

  function cell(tr, cls, text) {
    var td = document.createElement("td");
    td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
  }

  function renderCalls(calls) {
    var tbody = document.getElementById("calls");
    tbody.textContent = "";
    calls.slice(0, rows).forEach(function (c) {
      var tr = document.createElement("tr");
      cell(tr, "t", c.ticket); cell(tr, "c", String(c.counter)); cell(tr, "s", c.service || "");
      tbody.appendChild(tr);
    });
  }

  function renderWaiting(waiting) {
    var box = document.getElementById("waiting");
    var template = document.getElementById("waiting-template");
    box.textContent = "";
    waiting.forEach(function (w) {
      var node = template.content.firstElementChild.cloneNode(true);
      node.dataset.service = w.key;
      node.querySelector(".n").textContent = w.service;
      node.querySelector("b").textContent = String(w.count);
      box.appendChild(node);
    });
  }

  // The stylesheet sizes the call to its box; a long ticket ("LA-20481") or counter may still be
  // wider than its row. Shrink just that line until its glyphs fit: never clipped, never off screen.
  function shrinkToFit(el) {
    el.style.fontSize = "";
    for (var i = 0; i < 4 && el.scrollWidth > el.clientWidth + 1; i++) {
      var size = parseFloat(getComputedStyle(el).fontSize);
      el.style.fontSize = Math.floor(size * el.clientWidth / el.scrollWidth * 0.98) + "px";
    }
  }

  function fitNow() {
    shrinkToFit(document.getElementById("now-ticket"));
    shrinkToFit(nowBox.querySelector(".now-counter"));
    // What was fitted, to which window: tests wait on it rather than on time.
    nowBox.dataset.fit = document.getElementById("now-ticket").textContent + "@" +
      document.getElementById("now-counter").textContent + "@" + window.innerWidth + "x" + window.innerHeight;
  }

  if (window.ResizeObserver) { new ResizeObserver(fitNow).observe(nowBox); }
  window.addEventListener("resize", fitNow);
  if (document.fonts && document.fonts.ready) { document.fonts.ready.then(fitNow); }
  fitNow();

  function showNow(ticket, counter) {
    document.getElementById("now-ticket").textContent = ticket;
    document.getElementById("now-counter").textContent = String(counter);
    document.getElementById("now-text").textContent = callText(ticket, counter);
    fitNow();
    delete nowBox.dataset.empty;
    nowBox.classList.remove("flash");
    void nowBox.offsetWidth;  // restart the animation for a recall of the same number
    nowBox.classList.add("flash");
  }

  // The server's view wins after each event: it knows calls made while we were offline.
  function refresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      fetch(body.dataset.stateUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) {
          if (!state) { return; }
          renderCalls(state.calls);
          renderWaiting(state.waiting);
        })
        .catch(function () { /* the next event or reconnect refreshes again */ });
    }, 250);
  }

  function playNext() {
    if (playing || !queue.length) { return; }
    playing = true;
    var url = queue.shift();
    var audio = new Audio(url);
    audio.addEventListener("playing", function () { body.dataset.lastAudio = url; });
    var done = function () { playing = false; playNext(); };
    audio.addEventListener("ended", done);
    audio.addEventListener("error", done);
    var started = audio.play();
    if (started && started.catch) {
      started.catch(function () {
        // Autoplay refused (browser not started with the kiosk flag): one tap unlocks sound.
        soundButton.hidden = false;
        queue.unshift(url);
        playing = false;
      });
    }
  }

  function announce(ticket, counter) {
    for (var r = 0; r < repeat; r++) {
      voices.forEach(function (v) {
        queue.push(body.dataset.voiceBase + encodeURIComponent(v) + "/" + encodeURIComponent(ticket) + "/" + counter + ".wav");
      });
    }
    playNext();
  }

  soundButton.addEventListener("click", function () { soundButton.hidden = true; playNext(); });

  // The station's wall clock, whatever timezone the TV itself was set to.
  var clockFormat = null;
  try {
    clockFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false,
                                                     timeZone: body.dataset.timezone || undefined });
  } catch (e) { clockFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false }); }
  function tick() { document.getElementById("clock").textContent = clockFormat.format(new Date()); }
  tick();
  setInterval(tick, 10000);

  if (!window.EventSource) { setInterval(refresh, 5000); return; }
  var stream = window.kioskLive(body.dataset.stream);
  stream.addEventListener("legal.ticket_called", function (ev) {
    var call;
    try { call = JSON.parse(ev.data); } catch (e) { return; }
    showNow(call.ticket, call.counter);
    body.dataset.lastCall = call.ticket + "@" + call.counter;
    announce(call.ticket, call.counter);
    refresh();
  });
  // A resident pressed 呼叫工作人员 at a kiosk: the hall's big screen tells staff too,
  // until every call is answered ("open" counts the unanswered ones).
  function showStaffCalls(open) {
    document.getElementById("staff-call").hidden = !(open > 0);
    body.dataset.staffCalls = String(open || 0);
  }
  function staffCalls(ev) {
    var call;
    try { call = JSON.parse(ev.data); } catch (e) { return; }
    showStaffCalls(call.open);
  }
  // After a (re)connect: calls made or answered while the board was away.
  function catchUpStaffCalls() {
    if (!body.dataset.staffCallsUrl) { return; }
    fetch(body.dataset.staffCallsUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) { if (state) { showStaffCalls(state.open); } })
      .catch(function () { /* the next event says it */ });
  }
  stream.addEventListener("staff_calls.called", staffCalls);
  stream.addEventListener("staff_calls.acknowledged", staffCalls);
  ["legal.ticket_issued", "legal.ticket_served", "legal.ticket_no_show", "legal.ticket_transferred",
   "legal.counter_paused"].forEach(function (name) { stream.addEventListener(name, refresh); });
  // The core ends each stream after a while; EventSource reconnects by itself
  // and resumes from the last event id, so no call is missed; a stream the server
  // refused (a 503) is opened again by kioskLive (live.js). data-live shows
  // (to staff and tests) whether the board is connected right now.
  stream.addEventListener("open", function () { body.dataset.live = "1"; refresh(); catchUpStaffCalls(); });
  stream.addEventListener("error", function () { body.dataset.live = "0"; });
})();
