/* Sluis queue page: keeps the page current without reloading it, and takes the
   visitor in when it is their turn. The page works without this script; this only
   makes it calmer. Asks /_sluis/status exactly when the last answer says to, and not
   at all while the tab is hidden. Never moves the focus. */
(function () {
  "use strict";
  var root = document.getElementById("sluis");
  if (!root || !window.fetch) return;
  var d = root.dataset;
  var refreshOn = d.refresh === "on";
  var statusUrl = "/_sluis/status?room=" + encodeURIComponent(d.room);
  // The first page of a new visitor: the place is made by the first status call,
  // which brings back the cookie this page came with.
  var arriving = d.arriving === "1";
  var misses = 0;
  // A room with proof-of-work: that first call carries a solved nonce (proof.js).
  var nonce = null;
  var timer = null;
  var dueAt = 0;
  var failures = 0;
  var tickTimer = null;
  var note = document.getElementById("note");

  function say(text) {
    // A polite status line: announced by screen readers, never focused.
    if (note && note.textContent !== text) note.textContent = text;
  }

  function schedule(seconds) {
    clearTimeout(timer);
    dueAt = Date.now() + seconds * 1000;
    if (!document.hidden) timer = setTimeout(poll, seconds * 1000);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (dueAt) {
      timer = setTimeout(poll, Math.max(0, dueAt - Date.now()));
    }
  });

  function etaShape(low, high) {
    if (low == null || high == null) return ["unknown", 0, 0];
    if (high < 60) return ["soon", 0, 0];
    var lo;
    if (low >= 5400) {
      lo = Math.max(1, Math.floor(low / 3600 + 0.5));
      return ["hours", lo, Math.max(lo + 1, Math.ceil(high / 3600))];
    }
    lo = Math.max(1, Math.floor(low / 60 + 0.5));
    return ["min", lo, Math.max(lo + 1, Math.ceil(high / 60))];
  }

  function shapeOf(s) {
    if (s.state === "queued" || s.state === "paused") {
      var ahead = s.ahead || 0;
      var kind = ahead === 0 ? "none" : ahead === 1 ? "one" : "many";
      var eta = s.state === "queued" ? etaShape(s.eta_low_seconds, s.eta_high_seconds)[0]
        : "unknown";
      return s.state + "." + kind + "." + eta + (s.places_left != null ? ".places" : "");
    }
    if (s.state === "prequeue") {
      var left = (Date.parse(s.opens_at) - Date.parse(s.updated_at)) / 1000;
      return left >= 86400 ? "prequeue.far" : "prequeue.near";
    }
    return s.state;
  }

  function setFig(name, value) {
    var els = root.querySelectorAll('[data-fig="' + name + '"]');
    for (var i = 0; i < els.length; i++) {
      if (els[i].textContent !== String(value)) els[i].textContent = value;
    }
  }

  function clock(iso) {
    try {
      return new Date(iso).toLocaleTimeString(d.lang + "-BE",
        { timeZone: "Europe/Brussels", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    } catch (e) {
      return iso.slice(11, 19);
    }
  }

  function update(s) {
    if (s.position != null) {
      var strong = document.querySelector("#position-line strong");
      if (strong && strong.textContent !== String(s.position)) strong.textContent = s.position;
      setFig("ahead", s.ahead);
      var bar = document.getElementById("bar");
      if (bar) {
        var total = Math.max(s.queue_length || 0, s.position);
        var done = total - (s.ahead || 0);
        bar.max = total;
        bar.value = done;
        bar.setAttribute("aria-valuemax", total);
        bar.setAttribute("aria-valuenow", done);
        bar.textContent = done + " / " + total;
      }
      var eta = etaShape(s.eta_low_seconds, s.eta_high_seconds);
      setFig("eta_low", eta[1]);
      setFig("eta_high", eta[2]);
      if (s.places_left != null) setFig("places_left", s.places_left);
    }
    var t = root.querySelector('[data-fig="updated"]');
    if (t && s.updated_at) {
      t.setAttribute("datetime", s.updated_at);
      t.textContent = clock(s.updated_at);
    }
    if (s.opens_at && s.updated_at) startCountdown(Date.parse(s.opens_at) - Date.parse(s.updated_at));
  }

  function turn() {
    // The figures no longer matter: the card says it is the visitor's turn.
    var card = document.getElementById("state");
    if (card && !document.getElementById("turn")) {
      root.classList.add("turn");
      var p = document.createElement("p");
      p.id = "turn";
      p.className = "big";
      p.textContent = refreshOn ? d.turn : d.turnOff;
      card.insertBefore(p, card.firstChild);
      if (!refreshOn) {
        var a = document.createElement("a");
        a.id = "go";
        a.className = "button";
        a.href = d.check;
        a.textContent = d.go;
        card.appendChild(a);
      }
    }
    say(refreshOn ? d.turn : d.turnOff);
    if (refreshOn) {
      // The status call has just set the admission cookie: the same address now
      // leads to the registration site.
      window.location.replace(window.location.href);
    }
  }

  function changed() {
    // Something other than the figures changed (the state, or a sentence): the
    // server's page says it best. With automatic updates off, only say so.
    if (refreshOn) window.location.reload();
    else say(d.changed);
  }

  function poll() {
    timer = null;
    if (arriving && d.proof && nonce === null) {
      var solving = window.sluisProof ? window.sluisProof(d.proof, Number(d.proofBits))
        : Promise.reject(new Error("proof.js did not load"));
      solving.then(function (found) {
        nonce = found;
        poll();
      }, function () {
        // The solver is missing or failed: say so, and try again in a while.
        failures += 1;
        say(d.lost);
        schedule(Math.min(60, 5 * failures));
      });
      return;
    }
    var url = arriving ? statusUrl + "&join=1" : statusUrl;
    if (nonce !== null) url += "&proof=" + encodeURIComponent(nonce);
    fetch(url, { credentials: "same-origin", cache: "no-store",
      headers: { accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) { return [r.status, body]; });
      })
      .then(function (pair) {
        var code = pair[0], s = pair[1];
        var wait = Math.max(1, Number(s.poll_after_seconds) || 5);
        if (code === 429 && d.kind === "queue") {
          // Too many new places from this address: the page says so and when to retry.
          changed();
          if (!refreshOn) schedule(wait);
          return;
        }
        if (code !== 200) {
          failures += 1;
          say(d.lost);
          schedule(wait);
          return;
        }
        if (failures) say("");
        failures = 0;
        if (d.kind !== "queue") {
          // The calm error pages: the line is back, so ask for the page again.
          if (refreshOn) window.location.reload();
          else say(d.changed);
          return;
        }
        if (s.state === "admitted") {
          turn();
          if (!refreshOn) schedule(wait);
          return;
        }
        if (s.state === "none") {
          if (arriving) {
            // The status call came without the cookie: the browser refuses it.
            misses += 1;
            say(d.nocookie);
            schedule(Math.min(60, 5 * misses));
            return;
          }
          // The place was lost (or the cookie): the page itself gives a new one.
          changed();
          return;
        }
        if (shapeOf(s) !== d.shape) {
          changed();
          if (!refreshOn) schedule(wait);
          return;
        }
        update(s);
        schedule(wait);
      })
      .catch(function () {
        failures += 1;
        say(d.lost);
        schedule(Math.min(60, 5 * failures));
      });
  }

  // -- the countdown before the opening -------------------------------------------
  var countdown = document.getElementById("countdown");
  var opensAt = 0;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    var left = Math.max(0, Math.round((opensAt - Date.now()) / 1000));
    countdown.textContent = pad(Math.floor(left / 3600)) + ":" +
      pad(Math.floor(left / 60) % 60) + ":" + pad(left % 60);
  }

  function startCountdown(msLeft) {
    if (!countdown) return;
    // Measured against the server's clock, not the phone's.
    opensAt = Date.now() + msLeft;
    tick();
    if (!tickTimer) tickTimer = setInterval(tick, 1000);
  }

  if (countdown && d.now) {
    startCountdown(Number(countdown.dataset.opens) - Number(d.now));
  }

  if (d.kind === "limited") {
    // No place yet: try again once the wait the server named has passed.
    if (refreshOn) setTimeout(function () { window.location.reload(); }, Number(d.poll) * 1000);
    return;
  }
  schedule(arriving ? 0 : Math.max(1, Number(d.poll) || 5));
})();
