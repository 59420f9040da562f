/*
 * Wall display: the browser half of the self-recovery loop (callbacks/wall.py).
 *
 * health(): runs on every poll tick and every refresh result.
 *   - a refresh result with ok=false (the server could not read the database), or a
 *     poll tick while the previous poll is still unanswered (the server is away),
 *     counts a failure; the poll interval doubles per failure up to max_poll_ms and
 *     drops back to the profile's interval on the first success;
 *   - a new app version or build fingerprint reloads the page.
 * tick(): once a second: the clock (server time + elapsed, trust time zone), the
 *   STALE banner with the age of the figures on screen (red past stale_red_s), and
 *   the rotation of panels.
 * Nothing here grows: the health store is a fixed set of fields.
 */
(function () {
  "use strict";

  function formatTime(ms, tz, seconds) {
    if (ms === null || ms === undefined) {
      return "--:--";
    }
    var options = { hour: "2-digit", minute: "2-digit", hour12: false };
    if (seconds) {
      options.second = "2-digit";
    }
    try {
      options.timeZone = tz || "Europe/London";
      return new Intl.DateTimeFormat("en-GB", options).format(new Date(ms));
    } catch (e) {
      return "--:--";
    }
  }

  function formatAge(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    if (s < 60) {
      return s + " s";
    }
    var m = Math.floor(s / 60);
    if (m < 60) {
      return m + " min";
    }
    var h = Math.floor(m / 60);
    return h + " h " + (m % 60) + " min";
  }

  function span(text, className) {
    return {
      type: "Span",
      namespace: "dash_html_components",
      props: { children: text, className: className },
    };
  }

  function icon(name) {
    return {
      type: "I",
      namespace: "dash_html_components",
      props: { className: "bi " + name + " me-2", "aria-hidden": "true" },
    };
  }

  var last = { clock: null, staleKey: null, stage: null };

  function health(nPoll, status, state, shellVersion) {
    var dc = window.dash_clientside;
    var triggered = (dc.callback_context.triggered || []).map(function (t) {
      return t.prop_id;
    });
    var now = performance.now();
    var h = Object.assign(
      {
        failures: 0,
        pending: false,
        lastOk: null,
        base: 5000,
        interval: 5000,
        maxPoll: 60000,
        redAfter: 300,
        fingerprint: null,
        started: now,
        serverNow: null,
        serverAt: null,
        tz: null,
        mode: "grid",
        panels: 0,
        rotateMs: 20000,
        error: null,
      },
      state || {}
    );
    if (triggered.indexOf("wall-status.data") >= 0 && status) {
      h.pending = false;
      if (status.version && shellVersion && status.version !== shellVersion) {
        window.location.reload();
        return [dc.no_update, dc.no_update];
      }
      if (status.fingerprint) {
        if (h.fingerprint && h.fingerprint !== status.fingerprint) {
          window.location.reload();
          return [dc.no_update, dc.no_update];
        }
        h.fingerprint = status.fingerprint;
      }
      h.maxPoll = status.max_poll_ms || h.maxPoll;
      h.redAfter = status.stale_red_s || h.redAfter;
      h.tz = status.tz || h.tz;
      if (status.ok) {
        h.failures = 0;
        h.error = null;
        h.lastOk = now;
        h.serverNow = status.server_now_ms;
        h.serverAt = now;
        h.base = status.poll_ms || h.base;
        h.mode = status.mode || "grid";
        h.panels = status.panels || 0;
        h.rotateMs = status.rotate_ms || h.rotateMs;
        // the first answer to a poll was drawn knowing the screen size
        h.sized = h.sized || status.n > 0;
      } else {
        h.failures += 1;
        h.error = status.error || "The figures could not be read";
      }
    } else if (triggered.indexOf("wall-poll.n_intervals") >= 0) {
      if (h.pending) {
        h.failures += 1;
        h.error = "No answer from the server";
      }
      h.pending = true;
    }
    h.viewportHeight = window.innerHeight;
    var interval = h.failures
      ? Math.min(h.maxPoll, h.base * Math.pow(2, Math.min(h.failures, 6)))
      : h.sized
        ? h.base
        : Math.min(h.base, 2000); // one early poll: figures sized for this screen
    var changed = interval !== h.interval;
    h.interval = interval;
    return [h, changed ? interval : dc.no_update];
  }

  function tick(n, h) {
    var dc = window.dash_clientside;
    var now = performance.now();
    h = h || {};
    if (!n) {
      last = { clock: null, staleKey: null, stage: null }; // a freshly rendered page
    }
    var clock =
      h.serverNow !== null && h.serverNow !== undefined
        ? formatTime(h.serverNow + (now - h.serverAt), h.tz, false)
        : "--:--";

    var children = "";
    var className = "wall-stale wall-hidden";
    var staleKey = "ok";
    var base = h.base || 5000;
    if (h.lastOk !== null && h.lastOk !== undefined) {
      var age = (now - h.lastOk) / 1000;
      var late = age * 1000 > 2 * base + 5000;
      if (h.failures > 0 || late) {
        var red = age >= (h.redAfter || 300);
        var retry = Math.round((h.interval || base) / 1000);
        var text =
          " Figures below are from " +
          formatTime(h.serverNow, h.tz, false) +
          " (" +
          formatAge(age) +
          " ago). " +
          (h.error || "No answer from the server") +
          "; retrying every " +
          retry +
          " s.";
        children = [icon("bi-clock-history"), span("STALE", "wall-stale-word"), text];
        className = "wall-stale " + (red ? "wall-stale-red" : "wall-stale-amber");
        staleKey = className + text;
      }
    } else if (h.failures > 0) {
      children = [
        icon("bi-exclamation-octagon"),
        span("NO DATA", "wall-stale-word"),
        " " + (h.error || "No answer from the server") + "; retrying.",
      ];
      className = "wall-stale wall-stale-red";
      staleKey = "none" + h.error;
    }

    var stage = "wall-stage";
    if (h.mode === "rotate" && h.panels > 1) {
      var index =
        Math.floor((now - (h.started || 0)) / (h.rotateMs || 20000)) % h.panels;
      stage += " wall-show-" + index;
    }

    var out = [
      clock === last.clock ? dc.no_update : clock,
      staleKey === last.staleKey ? dc.no_update : children,
      staleKey === last.staleKey ? dc.no_update : className,
      stage === last.stage ? dc.no_update : stage,
    ];
    last.clock = clock;
    last.staleKey = staleKey;
    last.stage = stage;
    return out;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    wall: { health: health, tick: tick },
  });
})();
