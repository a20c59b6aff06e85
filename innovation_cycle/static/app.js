/* innovation-cycle: the little the pages do in the browser, as an external file (the CSP forbids inline scripts).
   Everything here is an enhancement: the pages work without it. */
(function () {
  "use strict";

  /* RGAA 11.10: after a refused form, the focus goes to the error summary, which lists the errors with links. */
  function focusErrorSummary() {
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.focus();
    }
  }

  /* Progressive disclosure: a control with data-reveals="<id>" shows the element <id> only while it is
     checked (the answer form's "how your solution meets this need" sentence under each ticked need). */
  function bindDisclosures() {
    var controls = document.querySelectorAll("[data-reveals]");
    Array.prototype.forEach.call(controls, function (control) {
      var target = document.getElementById(control.getAttribute("data-reveals"));
      if (!target) {
        return;
      }
      var sync = function () {
        target.hidden = !control.checked;
      };
      control.addEventListener("change", sync);
      sync();
    });
  }

  /* The bilan's charts (templates/macros/figures.html): their wrappers stay hidden, and the pages show their
     data tables only, until DSFR Chart has defined <bar-chart> — so no JavaScript, a blocked script or
     assets not installed leave no empty box. */
  function revealCharts() {
    var charts = document.querySelectorAll(".ic-chart[hidden]");
    if (!charts.length || !window.customElements) {
      return;
    }
    window.customElements.whenDefined("bar-chart").then(function () {
      Array.prototype.forEach.call(charts, function (chart) {
        chart.hidden = false;
      });
    });
  }

  function start() {
    revealCharts();
    bindDisclosures();
    focusErrorSummary();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
