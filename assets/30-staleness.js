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

  var POLL_INPUTS = ["shell-poll.n_intervals"];
  var GRACE_MS = 2000;

  var state = {
    lastOk: null, // performance.now() of the last good refresh
    failures: 0,
    error: null,
    anchorNow: null, // server time (ms) of the newest render seen ...
    anchorAt: null, // ... and when it was seen (performance.now())
    stale: false,
    key: null,
  };
  var seen = new WeakMap();

  function isPoll(body) {
    if (typeof body !== "string" || body.indexOf("n_intervals") < 0) {
      return false;
    }
    try {
      var changed = JSON.parse(body).changedPropIds || [];
      return changed.some(function (p) {
        return POLL_INPUTS.indexOf(p) >= 0;
      });
    } catch (e) {
      return false;
    }
  }

  function failed(message) {
    state.failures += 1;
    state.error = message;
  }

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
    var poll =
      url.indexOf("_dash-update-component") >= 0 && init && isPoll(init.body);
    var answer = realFetch.apply(this, arguments);
    if (!poll) {
      return answer;
    }
    return answer.then(
      function (response) {
        if (response.ok) {
          state.lastOk = performance.now();
          state.failures = 0;
          state.error = null;
        } else {
          failed(reason(response.status));
        }
        return response;
      },
      function (error) {
        failed("No answer from the server");
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
      if (state.anchorNow === null || serverNow >= state.anchorNow) {
        state.anchorNow = serverNow;
        state.anchorAt = now;
      }
      if (state.lastOk === null) {
        state.lastOk = now; // the page's first render is its first good refresh
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

  function pollMs() {
    var root = document.querySelector("[data-cc-poll-ms]");
    return (root && number(root.getAttribute("data-cc-poll-ms"))) || 5000;
  }

  function timezone() {
    var root = document.querySelector("[data-cc-tz]");
    return (root && root.getAttribute("data-cc-tz")) || "Europe/London";
  }

  function escapeText(text) {
    return String(text).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  function render(stale, text, label) {
    var body = document.body;
    var slot = document.getElementById("shell-stale");
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
    if (state.lastOk === null) {
      return; // nothing shown yet
    }
    var interval = pollMs();
    var quiet = now - state.lastOk;
    var stale = state.failures > 0 || quiet > 2 * interval + GRACE_MS;
    var text = "";
    var label = "";
    if (stale) {
      var tz = timezone();
      var lastGood =
        state.anchorNow !== null
          ? formatTime(state.anchorNow + (state.lastOk - state.anchorAt), tz)
          : "--:--";
      label = "STALE · last good " + lastGood;
      text =
        "— the figures on this page are from the last good refresh at " +
        lastGood +
        " (" +
        formatAge(quiet / 1000) +
        " ago)" +
        (newestAsOf !== null ? "; data as of " + formatTime(newestAsOf, tz) : "") +
        ". " +
        (state.error || "No answer from the server") +
        "; the page keeps trying and recovers by itself.";
    }
    var key = stale + "|" + text;
    if (key !== state.key) {
      state.key = key;
      state.stale = stale;
      render(stale, text, label);
    }
  }

  window.ccStaleness = {
    state: function () {
      return Object.assign({}, state);
    },
  };
  window.setInterval(tick, 1000);
})();
