/* Sluis queue page: keeps the page current without reloading it, and takes the
   visitor in when it is their turn. The page works without this script; this only
   makes it calmer. Asks /_sluis/status exactly when the last answer says to, and not
   at all while the tab is hidden, unless the visitor asked to be called back (a sound
   or a notification at their turn). Never moves the focus. */
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
    if (!document.hidden || armed()) timer = setTimeout(poll, seconds * 1000);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      // A visitor who asked to be called back is asked for even in another tab.
      if (armed()) return;
      clearTimeout(timer);
      timer = null;
    } else if (leaving) {
      go();
    } else if (dueAt) {
      clearTimeout(timer);
      timer = setTimeout(poll, Math.max(0, dueAt - Date.now()));
    }
  });

  // -- calling the visitor back at their turn: the title, a sound, a notification --
  // The choices last as long as the tab (the page reloads itself along the way).
  function recall(key) {
    try { return window.sessionStorage.getItem("sluis." + key); } catch (e) { return null; }
  }
  function remember(key, value) {
    try { window.sessionStorage.setItem("sluis." + key, value); } catch (e) { /* private mode */ }
  }
  var soundOn = recall("sound") === "1";
  var audio = null;
  var alarmed = false;
  var leaving = false;
  var away = null;

  function notifying() {
    return "Notification" in window && window.Notification.permission === "granted";
  }

  function armed() {
    return soundOn || notifying();
  }

  function audioContext() {
    // Made (and resumed) on the visitor's own click: browsers let a page that was
    // clicked play sound later. The page then updates in place, so it stays allowed.
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) audio = new Context();
    if (audio.state === "suspended" && audio.resume) audio.resume();
    return audio;
  }

  function chime(notes) {
    var ctx = audioContext();
    if (!ctx) return;
    var at = ctx.currentTime + 0.05;
    var tones = [660, 880, 1320];
    for (var i = 0; i < notes; i++) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = tones[i % tones.length];
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.35, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.4);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.45);
      at += 0.3;
    }
  }

  function alarm() {
    if (alarmed) return;
    alarmed = true;
    var text = away ? away.dataset.alertTitle : d.turn;
    var title = document.title;
    var cut = title.lastIndexOf(" · ");
    document.title = "\uD83D\uDD14 " + text + (cut >= 0 ? title.slice(cut) : "");
    if (soundOn) chime(3);
    if (notifying()) {
      try {
        var n = new window.Notification(text, { body: away ? away.dataset.alertBody : "",
          tag: "sluis-" + d.room, icon: "/_sluis/static/sluis.svg" });
        n.onclick = function () { window.focus(); n.close(); };
      } catch (e) {
        // Phone browsers show notifications only through a service worker: the title
        // and the sound remain.
      }
    }
  }

  function go() {
    leaving = true;
    window.location.replace(window.location.href);
  }

  function showNotifyState() {
    var line = document.getElementById("alert-notify-line");
    var said = document.getElementById("alert-said");
    if (!line || !said) return;
    var permission = "Notification" in window ? window.Notification.permission : "unsupported";
    line.hidden = permission !== "default";
    said.textContent = permission === "granted" ? away.dataset.notifyOn
      : permission === "denied" ? away.dataset.notifyOff : "";
  }

  function mailSaid(text) {
    var done = document.getElementById("mail-done");
    var form = document.getElementById("mail-form");
    var said = document.getElementById("mail-said");
    if (!done || !form || !said) return;
    done.hidden = !text;
    form.hidden = !!text;
    said.textContent = text || "";
  }

  function sendForm(form, onAnswer) {
    var body = new URLSearchParams(new FormData(form));
    fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
      cache: "no-store", headers: { accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(onAnswer, function () { say(d.lost); });
  }

  function wireAway() {
    // The section about stepping away: shown by the script, which is what it needs.
    away = document.getElementById("away");
    if (!away) return;
    var box = document.getElementById("alert-sound");
    var button = document.getElementById("alert-notify");
    var choices = document.getElementById("alert");
    if (choices && box) {
      choices.hidden = false;
      away.hidden = false;
      box.checked = soundOn;
      box.addEventListener("change", function () {
        soundOn = box.checked;
        remember("sound", soundOn ? "1" : "0");
        if (soundOn) chime(1);  // what it will sound like; and the click allows sound
      });
    }
    if (button) {
      button.addEventListener("click", function () {
        var asked = window.Notification.requestPermission(showNotifyState);
        if (asked && asked.then) asked.then(showNotifyState);
      });
    }
    showNotifyState();
    var form = document.getElementById("mail-form");
    if (form) {
      mailSaid(recall("mail." + d.room));
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        sendForm(form, function (a) {
          if (a.ok) {
            remember("mail." + d.room, a.message);
            mailSaid(a.message);
          } else {
            say(a.message || d.lost);
          }
        });
      });
    }
    var forget = document.getElementById("mail-forget");
    if (forget) {
      forget.addEventListener("submit", function (event) {
        event.preventDefault();
        sendForm(forget, function (a) {
          remember("mail." + d.room, "");
          mailSaid("");
          say(a.message || "");
        });
      });
    }
  }
  wireAway();

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
    alarm();
    if (refreshOn && !leaving) {
      // The status call has just set the admission cookie: the same address now
      // leads to the registration site. A visitor in another tab is taken there when
      // they come back to this one; the sound plays out first.
      if (document.hidden) leaving = true;
      else setTimeout(go, soundOn ? 1500 : 0);
    }
  }

  var renewals = 0;

  function changed() {
    // Something other than the figures changed (the state, or a sentence): the
    // server's page says it best. With automatic updates off, only say so. A visitor
    // who asked to be called back keeps this page (and its sound): it is updated in
    // place with the server's new page.
    if (refreshOn && armed() && window.DOMParser && renewals < 2) {
      renewals += 1;
      renew();
    } else if (refreshOn) {
      window.location.reload();
    } else {
      say(d.changed);
    }
  }

  function renew() {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store",
      headers: { accept: "text/html" } })
      .then(function (r) {
        return r.text().then(function (text) { return [r.ok, text]; });
      })
      .then(function (pair) {
        var doc = new DOMParser().parseFromString(pair[1], "text/html");
        var next = doc.getElementById("sluis");
        var fresh = doc.querySelector("main");
        var main = root.querySelector("main");
        if (!pair[0] || !next || next.dataset.kind !== "queue" || !fresh || !main) {
          // Not the queue page (the registration site already, an error): ask again.
          poll();
          return;
        }
        swap(main, fresh, doc, next);
        renewals = 0;
        schedule(Math.max(1, Number(d.poll) || 5));
      })
      .catch(function () {
        failures += 1;
        say(d.lost);
        schedule(Math.min(60, 5 * failures));
      });
  }

  function swap(main, fresh, doc, next) {
    // Everything but the section about stepping away is replaced; that one stays as
    // it is (its choices, a half-typed address, the focus).
    var live = document.getElementById("away");
    var incoming = fresh.querySelector("#away");
    var kids = Array.prototype.slice.call(main.childNodes);
    for (var i = 0; i < kids.length; i++) {
      if (kids[i] !== live) main.removeChild(kids[i]);
    }
    var before = true;
    var nodes = Array.prototype.slice.call(fresh.childNodes);
    for (var j = 0; j < nodes.length; j++) {
      if (nodes[j] === incoming && live) {
        before = false;
        continue;
      }
      var node = document.importNode(nodes[j], true);
      if (live && before) main.insertBefore(node, live);
      else main.appendChild(node);
    }
    if (live && !incoming) main.removeChild(live);
    var old = Object.keys(d);
    for (var k = 0; k < old.length; k++) {
      if (!(old[k] in next.dataset)) delete d[old[k]];
    }
    var names = Object.keys(next.dataset);
    for (var m = 0; m < names.length; m++) d[names[m]] = next.dataset[names[m]];
    arriving = d.arriving === "1";
    document.title = doc.title;
    note = document.getElementById("note");
    countdown = document.getElementById("countdown");
    if (!live && incoming) wireAway();
    if (countdown && d.now) startCountdown(Number(countdown.dataset.opens) - Number(d.now));
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
