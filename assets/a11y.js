/*
 * Accessibility fixes that need the live page (docs/accessibility.md).
 *
 * 1. Dash 4 dropdowns. Each dcc.Dropdown renders a hidden, focusable
 *    <input class="dash-dropdown-focus-target" tabindex="0" aria-hidden="true">
 *    that takes Tab focus and hands it to the real control, a <button tabindex="-1">
 *    (a workaround for Safari, which skips buttons when tabbing). A focusable element
 *    hidden from assistive technology breaks WCAG 4.1.2, and the button's name is
 *    only its current value ("All sites"), not what it chooses. So, for every
 *    dropdown as it appears: the stand-in becomes inert (not focusable, not exposed),
 *    the button itself joins the Tab order, and its name starts with its visible
 *    <label for="..."> ("Site, All sites"). React sets none of these again (their
 *    props never change), so the fix holds across re-renders; a re-mounted
 *    dropdown is a new element and is fixed when it appears.
 *
 *    An open dropdown list is a named radio group (check boxes when multi) of the
 *    native inputs Dash already focuses, rather than a listbox whose options each
 *    hold a focusable input (nested controls, WCAG 4.1.2).
 *
 * 2. dcc.Upload's hidden file input is named by its drop zone's text.
 *
 * 3. Charts: plotly's SVG drawing inside a named figure is hidden from assistive
 *    technology (the figure's text says what it shows).
 *
 * 4. A table box that scrolls but holds no control becomes a focusable, named
 *    region, so the keyboard can scroll it.
 *
 * 5. The skip link (components/shell.py) moves focus to the page's <main> without
 *    changing the address (a hash would be seen by the pages' dcc.Location).
 *
 * 6. Focus lost with its element (a poll redrew it, a dialog closed) goes back to
 *    the element with the same id, the dialog's opener, or <main>. A button of a
 *    list (a pattern-matching id such as {"type": "alerts-ack", "id": 7, ...}) that
 *    went away because it was used (an alert acknowledged) hands focus to the same
 *    item's redrawn button, else the next item's button of that kind, else the
 *    previous one; when none is left, to the list's heading, with a polite message
 *    ("Current alerts: nothing left to acknowledge.").
 *
 * 7. Dash 4 date pickers: the calendar's open state moves from the wrapper <div>
 *    to the text field, a combobox (see datePickers below).
 *
 * 8. Live regions: polled content is never one (it would be read out at every poll,
 *    and the STALE notices' ages change every second). What changes that matters
 *    is announced once: a newly firing alert by its toast (role=alert, server side),
 *    and the page going STALE or recovering (body.cc-stale, set by
 *    assets/30-staleness.js) by the polite announcer #cc-announce made here.
 *
 * Only attributes on those elements (and the announcer, outside React's tree) are
 * written here; React owns everything else.
 */
(function () {
  "use strict";

  var TARGET = "dash-dropdown-focus-target";

  function fixDropdown(stand) {
    if (stand.getAttribute("data-cc-a11y") === "1") {
      return;
    }
    stand.setAttribute("data-cc-a11y", "1");
    stand.inert = true;
    stand.setAttribute("inert", "");
    stand.tabIndex = -1;
    var button = stand.nextElementSibling;
    if (!button || !button.classList.contains("dash-dropdown")) {
      return;
    }
    if (!button.disabled) {
      button.tabIndex = 0;
    }
    nameFromLabel(button);
  }

  function nameFromLabel(button) {
    if (!button.id || button.getAttribute("data-cc-labelled") === "1") {
      return;
    }
    var label = document.querySelector('label[for="' + CSS.escape(button.id) + '"]');
    if (!label) {
      return;
    }
    if (!label.id) {
      label.id = button.id + "-label";
    }
    var ids = (button.getAttribute("aria-labelledby") || "").split(/\s+/);
    if (ids.indexOf(label.id) < 0) {
      button.setAttribute("aria-labelledby", [label.id].concat(ids).join(" ").trim());
    }
    button.setAttribute("data-cc-labelled", "1");
  }

  // The text a dropdown is labelled with ("Site"), for its open list.
  function labelText(button) {
    var label = button && button.id
      ? document.querySelector('label[for="' + CSS.escape(button.id) + '"]')
      : null;
    return label ? label.textContent.replace(/\s+/g, " ").trim() : "";
  }

  // An open dropdown list: Dash renders each option as <label role="option"> holding
  // the radio (checkbox when multi) that takes focus, a control inside a control.
  // The list becomes a named group of those native inputs, each named by its label.
  function fixOptions(content) {
    var trigger = content.id
      ? document.querySelector('[aria-controls="' + CSS.escape(content.id) + '"]')
      : null;
    var name = labelText(trigger);
    if (name && !content.hasAttribute("aria-label")) {
      content.setAttribute("aria-label", name);
    }
    var search = content.querySelector("input.dash-dropdown-search:not([aria-label])");
    if (search) {
      search.setAttribute("aria-label", "Search " + (name ? name.toLowerCase() + " " : "") + "options");
    }
    var lists = content.querySelectorAll(".dash-options-list[role=listbox]");
    for (var i = 0; i < lists.length; i++) {
      var multi = lists[i].querySelector("input[type=checkbox]");
      lists[i].setAttribute("role", multi ? "group" : "radiogroup");
      if (name) {
        lists[i].setAttribute("aria-label", name + " options");
      }
    }
    var options = content.querySelectorAll("label.dash-options-list-option");
    for (var j = 0; j < options.length; j++) {
      options[j].removeAttribute("role");
      options[j].removeAttribute("aria-selected");
    }
  }

  function sweep(root) {
    var found = root.getElementsByClassName ? root.getElementsByClassName(TARGET) : [];
    for (var i = 0; i < found.length; i++) {
      fixDropdown(found[i]);
    }
    // dcc.Upload's file input has no id, so no <label> can name it: it takes the
    // drop zone's own text ("Drop a CSV file here or choose one ...").
    var files = document.querySelectorAll('input[type="file"]:not([id]):not([aria-label])');
    for (var k = 0; k < files.length; k++) {
      var text = (files[k].parentElement && files[k].parentElement.textContent) || "";
      files[k].setAttribute("aria-label", text.replace(/\s+/g, " ").trim() || "Choose a file");
    }
    var open = document.querySelectorAll(".dash-dropdown-content");
    for (var o = 0; o < open.length; o++) {
      fixOptions(open[o]);
    }
    scrollables();
    // A chart's drawing says nothing a screen reader can use (ticks, rectangles):
    // its figure is named and described in words instead (components/chart_text.py).
    var drawings = document.querySelectorAll(".cc-chart-plot svg.main-svg:not([aria-hidden])");
    for (var m = 0; m < drawings.length; m++) {
      drawings[m].setAttribute("aria-hidden", "true");
    }
    datePickers();
    // A label rendered after its dropdown (or the other way round) names it now.
    var buttons = document.querySelectorAll("button.dash-dropdown:not([data-cc-labelled])");
    for (var j = 0; j < buttons.length; j++) {
      nameFromLabel(buttons[j]);
    }
  }

  // Dash 4's date picker opens its calendar from a <div> wrapper that carries the
  // popup's state (aria-expanded, aria-haspopup, aria-controls), which a plain div
  // may not have (WCAG 4.1.2). The state moves to the text field the keyboard uses,
  // as a combobox; React sets it on the wrapper again when the calendar opens or
  // closes, and the observer below watches for that.
  var POPUP_STATE = ["aria-expanded", "aria-haspopup", "aria-controls"];

  function datePickers() {
    var wrappers = document.querySelectorAll(".dash-datepicker-input-wrapper[aria-expanded]");
    for (var i = 0; i < wrappers.length; i++) {
      var input = wrappers[i].querySelector("input");
      if (!input) {
        continue;
      }
      input.setAttribute("role", "combobox");
      for (var k = 0; k < POPUP_STATE.length; k++) {
        var name = POPUP_STATE[k];
        if (wrappers[i].hasAttribute(name)) {
          input.setAttribute(name, wrappers[i].getAttribute(name));
          wrappers[i].removeAttribute(name);
        }
      }
    }
  }

  var FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";

  // A table wider (or taller) than its scrolling box can only be scrolled with the
  // keyboard if the box can take focus (WCAG 2.1.1): such a box without a control
  // inside joins the Tab order as a named region; it leaves again once it fits.
  function scrollables() {
    var boxes = document.querySelectorAll(".table-responsive, .cc-scroll");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      var overflows =
        box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1;
      var mine = box.getAttribute("data-cc-scroll") === "1";
      if (overflows && !mine && !box.querySelector(FOCUSABLE)) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        if (!box.hasAttribute("aria-label") && !box.hasAttribute("aria-labelledby")) {
          box.setAttribute("aria-label", regionName(box));
          box.setAttribute("data-cc-scroll-named", "1");
        }
        box.setAttribute("data-cc-scroll", "1");
      } else if (!overflows && mine) {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("data-cc-scroll");
        if (box.getAttribute("data-cc-scroll-named") === "1") {
          box.removeAttribute("aria-label");
          box.removeAttribute("data-cc-scroll-named");
        }
      }
    }
  }

  function regionName(box) {
    var caption = box.querySelector("caption");
    var card = box.closest(".card");
    var heading = card && card.querySelector(".card-header, h2, h3");
    var text = (caption || heading || {}).textContent || "";
    return (text.replace(/\s+/g, " ").trim() || "Table") + " (scrolls)";
  }

  function skipToMain(event) {
    var link = event.target.closest && event.target.closest(".cc-skip-link");
    if (!link) {
      return;
    }
    var main = document.querySelector("main");
    if (!main) {
      return;
    }
    event.preventDefault();
    if (!main.hasAttribute("tabindex")) {
      main.setAttribute("tabindex", "-1");
    }
    main.focus();
    main.scrollIntoView({ block: "start" });
  }

  // Focus that falls to <body> because its element went away (a poll re-rendered
  // it, a dialog closed after its opener was redrawn) goes back to the element with
  // the same id, else to the dialog's opener, else to <main>: a keyboard user keeps
  // their place. Focus the user moved off the page themselves (a click on nothing,
  // Tab past the end) is left alone: its element is still there.
  var focusKept = {
    last: null, lastId: "", opener: null, openerId: "", openerList: null,
  };

  // A Dash pattern-matching id ({"id":7,"type":"alerts-ack","version":3}) as an
  // object, else null.
  function patternId(id) {
    if (!id || id.charAt(0) !== "{") {
      return null;
    }
    try {
      var parsed = JSON.parse(id);
      return parsed && typeof parsed.type === "string" ? parsed : null;
    } catch (e) {
      return null;
    }
  }

  function sameType(type) {
    var found = [];
    var all = document.querySelectorAll('[id^="{"]');
    for (var i = 0; i < all.length; i++) {
      var p = patternId(all[i].id);
      if (p && p.type === type && !all[i].disabled && !all[i].closest(".modal")) {
        found.push({ el: all[i], key: p.id });
      }
    }
    return found;
  }

  // Where a list's button stands, remembered when it takes focus: its kind, its
  // item, its place among the buttons of that kind, its list's heading and words.
  function listPlace(el) {
    var p = patternId(el.id);
    if (!p) {
      return null;
    }
    var peers = sameType(p.type);
    var index = 0;
    for (var i = 0; i < peers.length; i++) {
      if (peers[i].el === el) {
        index = i;
      }
    }
    var box = el.closest("section, .card");
    var heading = box && box.querySelector("h2, h3, .card-header");
    return {
      type: p.type,
      key: p.id,
      index: index,
      heading: heading,
      headingText: heading ? heading.textContent.replace(/\s+/g, " ").trim() : "",
      verb: (el.textContent || "").replace(/\s+/g, " ").trim().toLowerCase(),
    };
  }

  // The button that takes the place of a vanished list button, or the heading.
  function listSuccessor(place) {
    var peers = sameType(place.type);
    for (var i = 0; i < peers.length; i++) {
      if (peers[i].key === place.key) {
        return peers[i].el;
      }
    }
    if (peers.length) {
      return peers[Math.min(place.index, peers.length - 1)].el;
    }
    var heading = place.heading;
    if (!heading || !heading.isConnected) {
      return null;
    }
    if (!heading.hasAttribute("tabindex")) {
      heading.setAttribute("tabindex", "-1");
    }
    if (place.verb) {
      announcer().textContent =
        (place.headingText ? place.headingText + ": " : "") +
        "nothing left to " + place.verb + ".";
    }
    return heading;
  }

  function keepFocus() {
    var active = document.activeElement;
    if (active && active !== document.body && active !== document.documentElement) {
      focusKept.last = active;
      focusKept.lastId = active.id || "";
      if (!active.closest(".modal") && focusKept.opener !== active) {
        focusKept.opener = active;
        focusKept.openerId = active.id || "";
        focusKept.openerList = listPlace(active);
      }
      return;
    }
    var last = focusKept.last;
    if (!last || last.isConnected) {
      return;
    }
    focusKept.last = null;
    var wasInDialog = !document.getElementById(focusKept.lastId) && focusKept.opener;
    var target = null;
    if (!wasInDialog && focusKept.lastId) {
      target = document.getElementById(focusKept.lastId);
    }
    if (!target && focusKept.opener) {
      target = focusKept.opener.isConnected
        ? focusKept.opener
        : focusKept.openerId && document.getElementById(focusKept.openerId);
    }
    if (!target && focusKept.openerList && !focusKept.opener.isConnected) {
      target = listSuccessor(focusKept.openerList);
    }
    if (!target || target.closest(".modal:not(.show)")) {
      target = document.querySelector("main");
    }
    if (target) {
      target.focus();
    }
  }

  var announced = { stale: false };

  function announcer() {
    var el = document.getElementById("cc-announce");
    if (!el) {
      el = document.createElement("div");
      el.id = "cc-announce";
      el.className = "visually-hidden";
      el.setAttribute("role", "status");
      el.setAttribute("aria-live", "polite");
      el.setAttribute("aria-atomic", "true");
      document.body.appendChild(el);
    }
    return el;
  }

  // Once a second, like the staleness judge: say it when the page turns STALE and
  // when it recovers, never the ticking age.
  function announceStaleness() {
    var stale = document.body.classList.contains("cc-stale");
    if (stale === announced.stale) {
      return;
    }
    announced.stale = stale;
    var label = (document.body.style.getPropertyValue("--cc-stale-label") || "")
      .replace(/^\s*"|"\s*$/g, "");
    announcer().textContent = stale
      ? "The figures on this page are stale" + (label ? " (" + label + ")" : "") +
        ": the page is not receiving updates."
      : "The figures on this page are up to date again.";
  }

  function start() {
    sweep(document);
    // One sweep per batch of changes (the observer batches a whole render).
    // (aria-selected: React sets it again on an option when a multi-choice changes)
    new MutationObserver(function () {
      sweep(document);
    }).observe(document.body, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ["aria-selected", "aria-expanded"],
    });
    document.addEventListener("click", skipToMain);
    announcer();
    window.setInterval(announceStaleness, 1000);
    window.setInterval(keepFocus, 200);
    window.addEventListener("resize", scrollables);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
