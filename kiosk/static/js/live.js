// A push stream that comes back after the server refused it.
//
// EventSource reconnects by itself when a stream ends or the network drops, but
// an answer other than a 200 text/event-stream (a 503 while the database is
// busy, a 502 from a proxy during a restart, a 429) closes it for good: a
// calling display would show stale calls until someone reloads it. kioskLive(url)
// is an EventSource that opens a new one when that happens, after 2 s, then
// longer (up to a minute, with jitter so a hall of screens does not come back
// at once), resuming after the last event it saw (?after=<id>, as the
// Last-Event-ID header does on the browser's own reconnects). Its listeners
// ("open" and "error" too) carry over to each new EventSource.
(function () {
  "use strict";
  var FIRST_WAIT = 2000;
  var LONGEST_WAIT = 60000;

  function withAfter(url, last) {
    if (!last) { return url; }
    var bare = url.replace(/([?&])after=[^&]*&?/, "$1").replace(/[?&]$/, "");
    return bare + (bare.indexOf("?") >= 0 ? "&" : "?") + "after=" + encodeURIComponent(last);
  }

  window.kioskLive = function (url) {
    var listeners = [];
    var source = null;
    var last = "";
    var wait = FIRST_WAIT;
    var timer = null;
    var closed = false;

    function remembering(fn) {
      return function (ev) {
        if (ev && ev.lastEventId) { last = ev.lastEventId; }
        return fn.apply(this, arguments);
      };
    }

    function open() {
      timer = null;
      source = new EventSource(withAfter(url, last));
      listeners.forEach(function (l) { source.addEventListener(l[0], l[1]); });
      source.addEventListener("open", function () { wait = FIRST_WAIT; });
      source.addEventListener("error", function () {
        if (closed || timer || source.readyState !== EventSource.CLOSED) { return; }  // the browser retries itself
        timer = setTimeout(open, wait + Math.floor(Math.random() * 1000));
        wait = Math.min(wait * 2, LONGEST_WAIT);
      });
    }

    var stream = {
      addEventListener: function (name, fn) {
        var wrapped = remembering(fn);
        listeners.push([name, wrapped]);
        if (source) { source.addEventListener(name, wrapped); }
      },
      close: function () {
        closed = true;
        if (timer) { clearTimeout(timer); timer = null; }
        if (source) { source.close(); }
      }
    };
    open();
    return stream;
  };
})();
