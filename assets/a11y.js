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
 * 2. dcc.Upload's hidden file input is named by its drop zone's text.
 *
 * 3. The skip link (components/shell.py) moves focus to the page's <main> without
 *    changing the address (a hash would be seen by the pages' dcc.Location).
 *
 * Only attributes on those elements are written here; React owns everything else.
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
    scrollables();
    // A label rendered after its dropdown (or the other way round) names it now.
    var buttons = document.querySelectorAll("button.dash-dropdown:not([data-cc-labelled])");
    for (var j = 0; j < buttons.length; j++) {
      nameFromLabel(buttons[j]);
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

  function start() {
    sweep(document);
    // One sweep per batch of changes (the observer batches a whole render).
    new MutationObserver(function () {
      sweep(document);
    }).observe(document.body, { childList: true, subtree: true });
    document.addEventListener("click", skipToMain);
    window.addEventListener("resize", scrollables);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
