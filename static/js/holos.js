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

// Booking form: the "ends" settings of a repeating appointment show only once a
// repetition is chosen. Without JS they are always shown (and ignored when not repeating).
(function () {
  "use strict";
  function apply(root) {
    root.querySelectorAll(".appointment-form select[name=repeat]").forEach(function (select) {
      var ends = select.form.querySelector("[data-repeat-ends]");
      if (ends) ends.hidden = !select.value;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches(".appointment-form select[name=repeat]")) apply(event.target.form);
  });
  document.addEventListener("htmx:load", function (event) { apply(event.detail.elt); });
})();

// Calendar: drag an appointment to move it (to another time or day) or drag its bottom
// edge to change its length, in 15-minute steps. On release the change is posted and the
// server answers with the calendar as it now is (or unchanged, with the reason). The
// appointment dialog's start and duration fields do the same from the keyboard.
(function () {
  "use strict";
  var SLOT = 15;
  var drag = null;
  var suppressClick = false;

  function hhmm(minutes) {
    return String(Math.floor(minutes / 60)).padStart(2, "0") + ":" +
      String(minutes % 60).padStart(2, "0");
  }
  function columnAt(x, y) {
    var el = document.elementFromPoint(x, y);
    return el && el.closest ? el.closest(".cal-col") : null;
  }
  function reset() {
    if (!drag) return;
    var chip = drag.chip;
    chip.classList.remove("dragging");
    chip.style.gridRowStart = "";
    chip.style.gridRowEnd = "";
    if (chip.parentNode !== drag.home) drag.home.appendChild(chip);
    drag = null;
  }
  document.addEventListener("pointerdown", function (event) {
    if (event.button !== 0 || !window.htmx) return;
    var chip = event.target.closest && event.target.closest(".cal-col .cal-ev[data-start]");
    if (!chip) return;
    var column = chip.closest(".cal-col");
    drag = {
      chip: chip,
      home: column,
      column: column,
      resize: !!event.target.closest(".ev-resize"),
      x: event.clientX,
      y: event.clientY,
      slot: column.getBoundingClientRect().height / parseInt(column.getAttribute("data-rows"), 10),
      row: parseInt(chip.getAttribute("data-row"), 10),
      span: parseInt(chip.getAttribute("data-span"), 10),
      rows: 0,
      moved: false
    };
  });
  document.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var dx = event.clientX - drag.x;
    var dy = event.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 6) return;
    drag.moved = true;
    drag.chip.classList.add("dragging");
    drag.rows = Math.round(dy / drag.slot);
    var chip = drag.chip;
    var total = parseInt(drag.home.getAttribute("data-rows"), 10);
    if (drag.resize) {
      drag.rows = Math.max(drag.rows, 1 - drag.span);
      chip.style.gridRowEnd = "span " + (drag.span + drag.rows);
      return;
    }
    drag.rows = Math.min(Math.max(drag.rows, 1 - drag.row), total - drag.row);
    var column = columnAt(event.clientX, event.clientY);
    if (column && column !== drag.column) {
      column.appendChild(chip);
      drag.column = column;
    }
    chip.style.gridRowStart = String(drag.row + drag.rows);
  });
  document.addEventListener("pointerup", function () {
    if (!drag) return;
    var done = drag;
    if (!done.moved) { drag = null; return; }
    suppressClick = true;
    var chip = done.chip;
    var start = chip.getAttribute("data-start").split(":");
    var startMinutes = parseInt(start[0], 10) * 60 + parseInt(start[1], 10);
    var minutes = parseInt(chip.getAttribute("data-minutes"), 10);
    if (done.resize) {
      minutes = Math.max(SLOT, minutes + done.rows * SLOT);
    } else {
      startMinutes += done.rows * SLOT;
    }
    // A click follows the release (on whatever lies under it); it must not open anything.
    window.setTimeout(function () { suppressClick = false; }, 0);
    var calendar = chip.closest(".calendar");
    var day = done.column.getAttribute("data-date");
    if ((done.rows === 0 && done.column === done.home) || !calendar) { reset(); return; }
    chip.classList.remove("dragging");
    drag = null;
    calendar.classList.add("busy-saving");
    var url = calendar.getAttribute("data-move-url")
      .replace("/0/", "/" + chip.getAttribute("data-appointment") + "/");
    window.htmx.ajax("POST", url, {
      target: "#calendar",
      swap: "outerHTML",
      values: {
        starts_at: day + "T" + hhmm(startMinutes),
        minutes: minutes,
        view: calendar.getAttribute("data-view"),
        date: calendar.getAttribute("data-date"),
        therapist: calendar.getAttribute("data-therapist")
      }
    });
  });
  document.addEventListener("pointercancel", reset);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && drag) reset();
  });
  // The click that ends a drag must not also open the appointment.
  document.addEventListener("click", function (event) {
    if (!suppressClick) return;
    suppressClick = false;
    event.preventDefault();
    event.stopPropagation();
  }, true);
})();

// Session form: choosing a therapy fills in its price and usual duration, until the
// person types over them (htmx swaps in the therapy's own fields at the same time).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    if (!event.target.matches(".session-form select[name=therapy_type]")) return;
    var form = event.target.form;
    var fills = JSON.parse(form.getAttribute("data-fills") || "{}");
    Object.keys(fills).forEach(function (name) {
      var input = form.querySelector("[name='" + name + "']");
      var value = fills[name][event.target.value];
      if (input && value !== undefined && !input.hasAttribute("data-typed")) input.value = value;
    });
  });
  document.addEventListener("input", function (event) {
    if (event.target.closest(".session-form") && event.target.matches("input")) {
      event.target.setAttribute("data-typed", "");
    }
  });
})();

// Payment forms: show the method and day for a paid payment, the due date for an unpaid
// one. Without JS all are shown (and the server ignores the ones the status doesn't use).
(function () {
  "use strict";
  function apply(container) {
    var checked = container.querySelector("input[type=radio][name$='status']:checked");
    if (!checked) return;
    container.querySelectorAll("[data-statuses]").forEach(function (el) {
      el.hidden = el.getAttribute("data-statuses").split(" ").indexOf(checked.value) === -1;
    });
  }
  function applyAll(root) {
    root.querySelectorAll(".charge-fields").forEach(apply);
  }
  document.addEventListener("change", function (event) {
    var container = event.target.closest(".charge-fields");
    if (container && event.target.matches("input[type=radio][name$='status']")) apply(container);
  });
  document.addEventListener("DOMContentLoaded", function () { applyAll(document); });
  document.addEventListener("htmx:load", function (event) { applyAll(event.detail.elt); });
})();
