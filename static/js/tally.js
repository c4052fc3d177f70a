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

// Meter builder and signals page.
(function () {
  "use strict";

  // hx-trigger filter of the signals stream poller: poll only while "Live" is ticked.
  window.tallyLive = function () {
    var toggle = document.getElementById("signals-live");
    return !toggle || toggle.checked;
  };

  // <button data-fill='{"name": "value", …}'>: set those inputs of the meter form, then fire `input` on each so
  // the preview and the field list refresh as if the person had typed.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-fill]");
    if (!button) return;
    var form = document.getElementById("meter-form");
    if (!form) return;
    var values;
    try { values = JSON.parse(button.getAttribute("data-fill")); } catch (e) { return; }
    Object.keys(values).forEach(function (name) {
      var el = form.elements[name];
      if (!el) return;
      el.value = values[name];
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });

  // A filter row's type select: the value box's placeholder says what to type for that type.
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-hints]");
    if (!select) return;
    var row = select.closest("[data-filter-row]");
    var input = row && row.querySelector("input[name=filter_value]");
    if (!input) return;
    try { input.placeholder = JSON.parse(select.getAttribute("data-hints"))[select.value] || ""; } catch (e) { /* keep */ }
  });

  // A live list keeps at most data-max-rows rows: the oldest fall off the bottom as new ones arrive.
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("[data-max-rows]").forEach(function (body) {
      var max = parseInt(body.getAttribute("data-max-rows"), 10);
      var rows = body.querySelectorAll("tr.signal-row");
      for (var i = max; i < rows.length; i++) rows[i].remove();
    });
  });
})();
