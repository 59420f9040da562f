/*
 * Wall display: the browser half of the self-recovery loop (callbacks/wall.py).
 *
 * Whether the figures are STALE is judged once for every page and the wall by
 * assets/30-staleness.js (window.ccStaleness); this file feeds it the wall's own
 * verdicts and draws the judgement in the wall's banner.
 *
 * health(): runs on every poll tick and every refresh result.
 *   - a refresh result with ok=true is a good refresh (cc.good, with the server's
 *     time), ok=false (the server could not read the database) a failed one
 *     (cc.failed); no answer, 5xx and 401/403 are counted by the shared watcher;
 *   - the poll interval doubles per failure up to max_poll_ms and drops back to the
 *     profile's interval on the first success;
 *   - a new app version or build fingerprint reloads the page.
 * tick(): once a second: the clock (server time + elapsed, trust time zone), the
 *   STALE banner from cc.view() (red past stale_red_s), and the rotation of panels.
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
  var cc = window.ccStaleness; // assets/30-staleness.js: the one staleness judge
  var POLL = "wall-poll";
  cc.verify(POLL); // a wall answer is good only when its status says ok

  function health(nPoll, status, state, shellVersion) {
    var dc = window.dash_clientside;
    var triggered = (dc.callback_context.triggered || []).map(function (t) {
      return t.prop_id;
    });
    var now = performance.now();
    var h = Object.assign(
      {
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
      },
      state || {}
    );
    if (triggered.indexOf("wall-status.data") >= 0 && status) {
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
        cc.good(POLL, status.server_now_ms);
        h.serverNow = status.server_now_ms;
        h.serverAt = now;
        h.base = status.poll_ms || h.base;
        cc.setPollMs(POLL, h.base);
        h.mode = status.mode || "grid";
        h.panels = status.panels || 0;
        h.rotateMs = status.rotate_ms || h.rotateMs;
        // the first answer to a poll was drawn knowing the screen size
        h.sized = h.sized || status.n > 0;
      } else {
        cc.failed(POLL, status.error || "The figures could not be read");
      }
    }
    h.viewportHeight = window.innerHeight;
    var failures = cc.view(now).failures;
    var interval = failures
      ? Math.min(h.maxPoll, h.base * Math.pow(2, Math.min(failures, 6)))
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

    // The STALE banner shows the shared judgement (cc.view), in the wall's words.
    var v = cc.view(now);
    var children = "";
    var className = "wall-stale wall-hidden";
    var staleKey = "ok";
    var base = h.base || 5000;
    if (v.stale && v.everGood) {
      var red = v.ageS >= (h.redAfter || 300);
      var retry = Math.round((h.interval || base) / 1000);
      var text =
        " Figures below are from " +
        v.lastGood +
        " (" +
        formatAge(v.ageS) +
        " ago). " +
        (v.error || "No answer from the server") +
        "; retrying every " +
        retry +
        " s.";
      children = [icon("bi-clock-history"), span("STALE", "wall-stale-word"), text];
      className = "wall-stale " + (red ? "wall-stale-red" : "wall-stale-amber");
      staleKey = className + text;
    } else if (v.stale) {
      children = [
        icon("bi-exclamation-octagon"),
        span("NO DATA", "wall-stale-word"),
        " " + (v.error || "No answer from the server") + "; retrying.",
      ];
      className = "wall-stale wall-stale-red";
      staleKey = "none" + v.error;
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
