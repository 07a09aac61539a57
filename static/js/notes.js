// Clinical note page: "Copy as text" fetches the note's text export (so the copy is
// audited like any export) and puts it on the clipboard.
(function () {
  "use strict";
  function say(button, message) {
    var status = document.querySelector("[data-copy-status]");
    if (status) status.textContent = message;
  }
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy-url]");
    if (!button) return;
    button.disabled = true;
    fetch(button.getAttribute("data-copy-url"), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(copyText)
      .then(function () { say(button, button.getAttribute("data-msg-copied")); })
      .catch(function () { say(button, button.getAttribute("data-msg-failed")); })
      .finally(function () { button.disabled = false; });
  });
})();
