// Charts from their data-chart options (no inline scripts: the CSP forbids them).
function drawCharts(root) {
  if (!window.echarts) return;
  root.querySelectorAll(".chart[data-chart]").forEach(function (el) {
    if (el.dataset.drawn) return;
    el.dataset.drawn = "1";
    var chart = echarts.init(el);
    chart.setOption(JSON.parse(el.dataset.chart));
    window.addEventListener("resize", function () { chart.resize(); });
  });
}
document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
document.addEventListener("htmx:afterSwap", function (e) { drawCharts(e.target); });

// A refused outcome (no amount, a closed task) says why next to the buttons.
document.addEventListener("htmx:responseError", function (e) {
  var form = e.detail.elt.closest ? e.detail.elt.closest("form") : null;
  if (!form) return;
  var note = form.querySelector(".error");
  if (!note) {
    note = document.createElement("span");
    note.className = "error";
    note.setAttribute("role", "alert");
    form.appendChild(note);
  }
  var detail = e.detail.xhr.statusText;
  try { detail = JSON.parse(e.detail.xhr.responseText).detail; } catch (err) { /* not JSON */ }
  note.textContent = " " + detail;
});
