// The hosted checkout page (templates/checkout/page.html): start an attempt, confirm the card with Stripe.js
// (confirmCardSetup) when the plan costs something, complete the attempt, follow the redirect. Plain JS, no build.
(function () {
  "use strict";
  var form = document.getElementById("checkout-form");
  if (!form) return;
  var button = document.getElementById("pay-button");
  var errorBox = document.getElementById("form-error");
  var statusBox = document.getElementById("status");
  var payment = document.getElementById("payment");
  var key = form.dataset.publishableKey;
  var stripe = null;
  var card = null;
  var busy = false;

  if (key && typeof window.Stripe === "function") {
    stripe = window.Stripe(key);
    card = stripe.elements().create("card");
    card.mount("#card-element");
  }

  function csrfToken() {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function newClientKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function chosenPlan() {
    return form.querySelector("input[name=plan]:checked");
  }

  function planIsFree() {
    var plan = chosenPlan();
    return plan ? plan.dataset.free === "true" : false;
  }

  function showError(message, field) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    statusBox.textContent = "";
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    var input = field ? form.querySelector("[name=" + CSS.escape(field) + "]") : null;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } else {
      errorBox.focus && errorBox.setAttribute("tabindex", "-1");
      errorBox.focus();
    }
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function setBusy(on, message) {
    busy = on;
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
    statusBox.textContent = message || "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
    }).then(function (response) {
      return response.json().catch(function () { return { error: "Something went wrong (" + response.status + ")." }; })
        .then(function (data) { data.ok = response.ok; return data; });
    });
  }

  function syncPayment() {
    if (payment) payment.hidden = planIsFree();
  }

  form.querySelectorAll("input[name=plan]").forEach(function (radio) {
    radio.addEventListener("change", syncPayment);
  });
  syncPayment();

  var currency = form.querySelector("[data-switch-currency]");
  if (currency) {
    currency.addEventListener("change", function () {
      var url = new URL(window.location.href);
      url.searchParams.set("currency", currency.value);
      window.location.assign(url.toString());
    });
  }

  function fail(message, field) {
    form.querySelector("input[name=client_key]").value = newClientKey(); // a retry is a new attempt
    setBusy(false);
    showError(message, field);
  }

  function complete(attemptId) {
    var body = new FormData();
    body.append("attempt", attemptId);
    setBusy(true, "Finishing your order…");
    return post(form.dataset.completeUrl, body).then(function (data) {
      if (data.ok && data.redirectUrl) {
        statusBox.textContent = "Done. Taking you back…";
        window.location.assign(data.redirectUrl);
        return;
      }
      fail(data.error || "We could not finish your order.");
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return; // a double click sends nothing twice
    clearError();
    if (!chosenPlan()) return showError("Choose a plan.", "plan");
    if (!form.reportValidity()) return;
    var free = planIsFree();
    if (!free && !card) return showError("Card payments are not available here yet.");
    setBusy(true, free ? "Setting up your plan…" : "Checking your details…");
    post(form.dataset.startUrl, new FormData(form)).then(function (data) {
      if (!data.ok) return fail(data.error || "Please check the form.", data.field);
      if (data.redirectUrl) {
        statusBox.textContent = "Done. Taking you back…";
        window.location.assign(data.redirectUrl);
        return;
      }
      if (!data.clientSecret) return complete(data.attemptId);
      setBusy(true, "Confirming your card…");
      var details = { name: form.elements.name.value, email: form.elements.email.value };
      return stripe.confirmCardSetup(data.clientSecret, {
        payment_method: { card: card, billing_details: details },
      }).then(function (result) {
        if (result.error) return fail(result.error.message || "Your card was declined.");
        return complete(data.attemptId);
      });
    }).catch(function () {
      fail("We could not reach the server. Check your connection and try again.");
    });
  });
})();
