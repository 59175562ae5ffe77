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
