// The booking form's total, kept up to date as the party changes. The server writes the same
// total into the page (and computes it again when the booking is made): without this script
// the page shows the total of the party it was sent with.
(function () {
  "use strict";
  var total = document.getElementById("total");
  var adults = document.getElementById("adults");
  var children = document.getElementById("children");
  if (!total || !adults || !children) return;
  var prices = total.parentElement.dataset;
  var format = new Intl.NumberFormat(document.documentElement.lang || "fr", {
    style: "currency",
    currency: "EUR",
  });
  function count(input) {
    var value = parseInt(input.value, 10);
    return isNaN(value) || value < 0 ? 0 : value;
  }
  function update() {
    var cents = count(adults) * Number(prices.adultCents) + count(children) * Number(prices.childCents);
    total.textContent = format.format(cents / 100);
  }
  adults.addEventListener("input", update);
  children.addEventListener("input", update);
})();
