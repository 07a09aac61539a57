// Holos: small progressive enhancements. Pages work without this file.
(function () {
  "use strict";
  // Close the user menu when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.usermenu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.usermenu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });
})();

// Therapy field editor: show only the settings that apply to the chosen kind
// (choices for choice kinds; min, max and unit for numbers). Without JS all are shown.
(function () {
  "use strict";
  function applyKind(form) {
    var kind = form.querySelector("select[name$='-kind']");
    if (!kind) return;
    form.querySelectorAll("[data-kinds]").forEach(function (el) {
      el.hidden = el.getAttribute("data-kinds").split(" ").indexOf(kind.value) === -1;
    });
  }
  function applyAll(root) {
    root.querySelectorAll("form.field-editor").forEach(applyKind);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("form.field-editor select[name$='-kind']")) {
      applyKind(event.target.form);
    }
  });
  document.addEventListener("DOMContentLoaded", function () { applyAll(document); });
  document.addEventListener("htmx:load", function (event) { applyAll(event.detail.elt); });
})();

// Drag to reorder a [data-sortable] list; its items carry hidden inputs for the form named
// by data-sortable, which is submitted (through htmx) when an item is dropped. The arrow
// buttons in each item do the same without a mouse.
(function () {
  "use strict";
  var dragged = null;
  var before = "";
  function order(list) {
    return Array.prototype.map.call(list.children, function (li) {
      return li.getAttribute("data-key");
    }).join(" ");
  }
  document.addEventListener("dragstart", function (event) {
    var item = event.target.closest && event.target.closest("[data-sortable] > li[draggable=true]");
    if (!item) return;
    dragged = item;
    before = order(item.parentNode);
    item.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.getAttribute("data-key") || "");
  });
  document.addEventListener("dragover", function (event) {
    if (!dragged) return;
    var over = event.target.closest && event.target.closest("[data-sortable] > li");
    if (!over || over === dragged || over.parentNode !== dragged.parentNode) return;
    event.preventDefault();
    var box = over.getBoundingClientRect();
    var after = event.clientY > box.top + box.height / 2;
    over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
  });
  document.addEventListener("drop", function (event) {
    if (dragged) event.preventDefault();
  });
  document.addEventListener("dragend", function () {
    if (!dragged) return;
    var list = dragged.parentNode;
    dragged.classList.remove("dragging");
    dragged = null;
    var form = document.getElementById(list.getAttribute("data-sortable"));
    if (form && order(list) !== before) form.requestSubmit();
  });
})();

// Tabs ([role=tablist], the patient profile): arrow keys, Home and End move the focus
// between tabs, as role="tab" promises screen-reader users; Enter opens the focused tab.
// Each tab is an ordinary link, so without this file they are simply reached with Tab.
(function () {
  "use strict";
  var moves = { ArrowRight: 1, ArrowLeft: -1 };
  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest("[role=tablist] > [role=tab]");
    if (!tab) return;
    var tabs = Array.prototype.slice.call(tab.parentNode.querySelectorAll("[role=tab]"));
    var index = tabs.indexOf(tab);
    if (event.key in moves) index = (index + moves[event.key] + tabs.length) % tabs.length;
    else if (event.key === "Home") index = 0;
    else if (event.key === "End") index = tabs.length - 1;
    else return;
    event.preventDefault();
    tabs[index].focus();
  });
})();

// Calendar: appointment forms open in a <dialog>; a click on empty time books that slot;
// the therapy's usual duration fills in until the duration is typed over. Without JS the
// same links open plain pages.
(function () {
  "use strict";
  function host() { return document.getElementById("dialog"); }
  function clear() {
    var el = host();
    if (!el) return;
    el.querySelectorAll("dialog[open]").forEach(function (d) { d.close(); });
    el.innerHTML = "";
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "dialog") return;
    var dialog = event.detail.target.querySelector("dialog[data-open]");
    if (dialog && !dialog.open) dialog.showModal();
  });
  document.addEventListener("calendarChanged", clear);
  document.addEventListener("close", function (event) {
    if (event.target.matches && event.target.matches("#dialog dialog")) host().innerHTML = "";
  }, true);
  document.addEventListener("click", function (event) {
    var closer = event.target.closest(".dialog-close");
    if (closer && closer.closest("dialog")) {
      event.preventDefault();
      clear();
      return;
    }
    var column = event.target.closest(".cal-col");
    if (!column || event.target.closest(".cal-ev") || !window.htmx) return;
    var box = column.getBoundingClientRect();
    var rows = parseInt(column.getAttribute("data-rows"), 10);
    var slot = Math.floor((event.clientY - box.top) / (box.height / rows));
    var minutes = parseInt(column.getAttribute("data-first-hour"), 10) * 60 + slot * 15;
    var hh = String(Math.floor(minutes / 60)).padStart(2, "0");
    var mm = String(minutes % 60).padStart(2, "0");
    var url = column.getAttribute("data-new-url") + "?start=" +
      column.getAttribute("data-date") + "T" + hh + ":" + mm;
    var therapist = column.getAttribute("data-therapist");
    if (therapist) url += "&therapist=" + encodeURIComponent(therapist);
    window.htmx.ajax("GET", url, { target: "#dialog" });
  });
  document.addEventListener("change", function (event) {
    if (!event.target.matches(".appointment-form select[name=therapy_type]")) return;
    var form = event.target.form;
    var minutes = JSON.parse(form.getAttribute("data-durations") || "{}")[event.target.value];
    var input = form.querySelector("input[name=minutes]");
    if (minutes && input && !input.hasAttribute("data-typed")) input.value = minutes;
  });
  document.addEventListener("input", function (event) {
    if (event.target.matches(".appointment-form input[name=minutes]")) {
      event.target.setAttribute("data-typed", "");
    }
  });
})();
