/*
 * Staleness of every page, judged in the browser (docs/staleness.md).
 *
 * The figures on a page are only as good as the last refresh that reached it. When
 * the server is stopped, or the request guard answers 503 during a database outage,
 * no callback output arrives and nothing on the page would change by itself. So:
 *
 *   - fetch is watched: a callback request triggered by a poll interval
 *     (POLL_INPUTS) that answers 2xx (204 "nothing changed" included) is a good
 *     refresh; one that fails (no answer, 5xx, 401/403) is a failed refresh;
 *   - once a second: every "as of" age (span.cc-age, with the data's time and the
 *     server's time in data-cc-as-of / data-cc-now, in ms) is aged in the browser;
 *     after a failed refresh, or when no good refresh has arrived for two poll
 *     intervals (data-cc-poll-ms on the shell root), the page is STALE: class
 *     cc-stale on <body> (assets/10-app.css marks every tile and figure), a label
 *     "STALE · last good HH:MM" on each (CSS variable --cc-stale-label) and the
 *     notice in the shell's slot (#shell-stale) saying since when and why;
 *   - the first good refresh after that clears it: the page recovers by itself.
 *
 * Only <body>, the slot (which React renders empty and never updates) and the age
 * spans' text are written here; React owns everything else.
 */
(function () {
  "use strict";

  // The polls whose answers bring a page its figures: the shell's (every page) and
  // the wall's own. A page names the one it is judged by (data-cc-poll-id, the
  // innermost wins) and its interval (data-cc-poll-ms, or set()).
  var POLLS = ["shell-poll", "wall-poll"];
  var GRACE_MS = 2000;

  var polls = {};
  var anchor = { now: null, at: null }; // newest server time seen, and when
  var shown = { key: null };
  var seen = new WeakMap();

  function poll(id) {
    if (!polls[id]) {
      polls[id] = {
        lastOk: null, // performance.now() of the last good refresh
        failures: 0,
        error: null,
        pollMs: null,
      };
    }
    return polls[id];
  }

  function pollOf(body) {
    if (typeof body !== "string" || body.indexOf("n_intervals") < 0) {
      return null;
    }
    try {
      var changed = JSON.parse(body).changedPropIds || [];
      for (var i = 0; i < POLLS.length; i++) {
        if (changed.indexOf(POLLS[i] + ".n_intervals") >= 0) {
          return POLLS[i];
        }
      }
    } catch (e) {
      return null;
    }
    return null;
  }

  function good(id, serverNow) {
    var p = poll(id);
    p.lastOk = performance.now();
    p.failures = 0;
    p.error = null;
    if (typeof serverNow === "number") {
      anchor.now = serverNow;
      anchor.at = p.lastOk;
    }
  }

  function failed(id, message) {
    var p = poll(id);
    p.failures += 1;
    p.error = message;
  }

  // Polls whose answer says itself whether its figures were read (the wall's
  // status store): a 2xx is not enough, the page calls good() / failed().
  var verified = {};

  function reason(status) {
    if (status === 503) {
      return "The database cannot be reached";
    }
    if (status === 401 || status === 403) {
      return "This screen is no longer signed in";
    }
    return "The server answered " + status;
  }

  var realFetch = window.fetch;
  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : (input && input.url) || "";
    var id =
      url.indexOf("_dash-update-component") >= 0 && init ? pollOf(init.body) : null;
    var answer = realFetch.apply(this, arguments);
    if (!id) {
      return answer;
    }
    return answer.then(
      function (response) {
        if (!response.ok) {
          failed(id, reason(response.status));
        } else if (!verified[id]) {
          good(id);
        }
        return response;
      },
      function (error) {
        failed(id, "No answer from the server");
        throw error;
      }
    );
  };

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
    if (h < 24) {
      return m % 60 ? h + " h " + (m % 60) + " min" : h + " h";
    }
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  function formatTime(ms, tz) {
    try {
      return new Intl.DateTimeFormat("en-GB", {
        hour: "2-digit",
        minute: "2-digit",
        hour12: false,
        timeZone: tz || "Europe/London",
      }).format(new Date(ms));
    } catch (e) {
      return "--:--";
    }
  }

  function number(value) {
    var n = parseFloat(value);
    return isFinite(n) ? n : null;
  }

  // The server time of when an element was rendered, and when the browser saw it.
  function seenAt(el, now, serverNow) {
    var known = seen.get(el);
    if (!known || known.serverNow !== serverNow) {
      known = { serverNow: serverNow, at: now };
      seen.set(el, known);
      if (anchor.now === null || serverNow >= anchor.now) {
        anchor.now = serverNow;
        anchor.at = now;
      }
      var p = poll(judgedBy());
      if (p.lastOk === null && !p.failures) {
        p.lastOk = now; // the page's first render is its first good refresh
      }
    }
    return known.at;
  }

  function ageSpans(now) {
    var spans = document.querySelectorAll(".cc-age[data-cc-now]");
    var newestAsOf = null;
    for (var i = 0; i < spans.length; i++) {
      var el = spans[i];
      var serverNow = number(el.getAttribute("data-cc-now"));
      var asOf = number(el.getAttribute("data-cc-as-of"));
      if (serverNow === null || asOf === null) {
        continue;
      }
      var at = seenAt(el, now, serverNow);
      var text = formatAge((serverNow - asOf + (now - at)) / 1000);
      if (el.textContent !== text) {
        el.textContent = text;
      }
      if (newestAsOf === null || asOf > newestAsOf) {
        newestAsOf = asOf;
      }
    }
    return newestAsOf;
  }

  function judgedBy() {
    var roots = document.querySelectorAll("[data-cc-poll-id]");
    return roots.length
      ? roots[roots.length - 1].getAttribute("data-cc-poll-id")
      : "shell-poll";
  }

  function pollMs(id) {
    var set = poll(id).pollMs;
    if (set) {
      return set;
    }
    var roots = document.querySelectorAll("[data-cc-poll-ms]");
    var root = roots.length ? roots[roots.length - 1] : null;
    return (root && number(root.getAttribute("data-cc-poll-ms"))) || 5000;
  }

  function timezone() {
    var root = document.querySelector("[data-cc-tz]");
    return (root && root.getAttribute("data-cc-tz")) || "Europe/London";
  }

  /* What the page's figures are worth now: the one judgement every page and the
   * wall show (the wall draws it in its own banner, assets/wall.js). */
  function view(now) {
    now = now === undefined ? performance.now() : now;
    var id = judgedBy();
    var p = poll(id);
    var interval = pollMs(id);
    var v = {
      poll: id,
      pollMs: interval,
      failures: p.failures,
      error: p.error,
      everGood: p.lastOk !== null,
      stale: false,
      ageS: null,
      lastGood: null,
    };
    if (p.lastOk === null) {
      v.stale = p.failures > 0;
      return v;
    }
    var quiet = now - p.lastOk;
    v.ageS = quiet / 1000;
    v.stale = p.failures > 0 || quiet > 2 * interval + GRACE_MS;
    v.lastGood =
      anchor.now !== null
        ? formatTime(anchor.now + (p.lastOk - anchor.at), timezone())
        : "--:--";
    return v;
  }

  function escapeText(text) {
    return String(text).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  function render(stale, text, label) {
    var body = document.body;
    // the wall draws the judgement in its own banner (assets/wall.js)
    var slot = document.getElementById("wall-stale")
      ? null
      : document.getElementById("shell-stale");
    if (stale) {
      body.classList.add("cc-stale");
      body.style.setProperty("--cc-stale-label", JSON.stringify(label));
    } else {
      body.classList.remove("cc-stale");
      body.style.removeProperty("--cc-stale-label");
    }
    if (slot) {
      slot.className = stale ? "cc-stale-notice" : "cc-stale-notice cc-hidden";
      slot.innerHTML = stale
        ? '<i class="bi bi-clock-history me-2" aria-hidden="true"></i>' +
          '<strong class="cc-stale-word">STALE</strong> ' +
          escapeText(text)
        : "";
    }
  }

  function tick() {
    var now = performance.now();
    var newestAsOf = ageSpans(now);
    var v = view(now);
    var text = "";
    var label = "";
    if (v.stale && v.everGood) {
      label = "STALE · last good " + v.lastGood;
      text =
        "— the figures on this page are from the last good refresh at " +
        v.lastGood +
        " (" +
        formatAge(v.ageS) +
        " ago)" +
        (newestAsOf !== null
          ? "; data as of " + formatTime(newestAsOf, timezone())
          : "") +
        ". " +
        (v.error || "No answer from the server") +
        "; the page keeps trying and recovers by itself.";
    } else if (v.stale) {
      label = "NO DATA";
      text = "— " + (v.error || "No answer from the server") + "; retrying.";
    }
    var key = v.stale + "|" + text;
    if (key !== shown.key) {
      shown.key = key;
      render(v.stale, text, label);
    }
  }

  window.ccStaleness = {
    view: view,
    good: good,
    failed: failed,
    formatAge: formatAge,
    formatTime: formatTime,
    // a page whose interval is set at run time (a wall profile's poll)
    setPollMs: function (id, ms) {
      poll(id).pollMs = ms;
    },
    verify: function (id) {
      verified[id] = true;
    },
  };
  window.setInterval(tick, 1000);
})();
