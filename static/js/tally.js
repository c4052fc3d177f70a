// Small progressive enhancements for the dashboard. Everything works without this file.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    // <button data-copy="#selector">: copy the target's text to the clipboard.
    var copyButton = event.target.closest("[data-copy]");
    if (copyButton) {
      var source = document.querySelector(copyButton.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        var label = copyButton.textContent;
        copyButton.textContent = "Copied";
        setTimeout(function () { copyButton.textContent = label; }, 2000);
      });
      return;
    }
    // <button data-dismiss> inside a flash notice: remove the notice.
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      var notice = dismiss.closest(".flash");
      if (notice) notice.remove();
    }
  });
})();

// Forms marked data-preserve-edits are swapped by htmx while someone may still be typing (the pricing form
// reloads when its type changes). Whatever was changed after the request left is put back after the swap.
(function () {
  "use strict";

  function values(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "submit" || el.type === "button" || el.type === "hidden") return;
      out[el.name] = el.type === "checkbox" ? String(el.checked) : el.value;
    });
    return out;
  }

  var sent = null;
  var edits = null;

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.target;
    sent = form && form.matches && form.matches("form[data-preserve-edits]") ? values(form) : null;
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var form = event.detail.target;
    edits = null;
    if (!sent || !form.matches("form[data-preserve-edits]")) return;
    var now = values(form);
    edits = {};
    Object.keys(now).forEach(function (name) {
      if (now[name] !== sent[name]) edits[name] = now[name];
    });
    sent = null;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!edits) return;
    var form = event.detail.elt.matches("form[data-preserve-edits]")
      ? event.detail.elt
      : document.querySelector("form[data-preserve-edits]");
    if (!form) return;
    Object.keys(edits).forEach(function (name) {
      var el = form.elements[name];
      if (!el || el.length !== undefined && !el.tagName) return;  // a radio group: leave it
      if (el.type === "checkbox") el.checked = edits[name] === "true";
      else el.value = edits[name];
    });
    edits = null;
  });
})();
