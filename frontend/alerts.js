// Early-warning board: follows the "alerts" topic over SSE and reloads the live regions (htmx), and draws
// the selected alert's timeline — complaints against expected — from the JSON block the page carries.
// No inline script or style anywhere (strict CSP).
const EVENT_TYPES = [
  "alert.new",
  "alert.grow",
  "alert.closed",
  "incident.opened",
  "incident.linked",
  "incident.subscribed",
  "incident.resolved",
  "resync",
];

function readChartData() {
  const node = document.getElementById("alert-chart-data");
  if (!node) return null;
  try {
    return JSON.parse(node.textContent);
  } catch (error) {
    return null;
  }
}

function drawChart() {
  const holder = document.getElementById("alert-chart");
  const data = readChartData();
  const echarts = window.echarts;
  if (!holder || !data || !data.points || !echarts) return;
  const chart = echarts.getInstanceByDom(holder) || echarts.init(holder);
  const labels = data.labels || {};
  chart.setOption(
    {
      tooltip: { trigger: "axis" },
      legend: { data: [labels.count, labels.expected, labels.score] },
      grid: { left: 44, right: 44, top: 40, bottom: 30 },
      xAxis: { type: "time" },
      yAxis: [
        { type: "value", minInterval: 1 },
        { type: "value", name: labels.score, splitLine: { show: false } },
      ],
      series: [
        { name: labels.count, type: "line", step: "end", symbolSize: 6, data: data.points.map((p) => [p[0], p[1]]) },
        {
          name: labels.expected,
          type: "line",
          symbol: "none",
          lineStyle: { type: "dashed" },
          data: data.points.map((p) => [p[0], p[2]]),
        },
        {
          name: labels.score,
          type: "line",
          yAxisIndex: 1,
          symbol: "none",
          lineStyle: { opacity: 0.5 },
          data: data.points.map((p) => [p[0], p[3]]),
        },
      ],
    },
    true,
  );
  holder.dataset.rendered = "true";
}

function follow() {
  const board = document.getElementById("alerts-board");
  const status = document.getElementById("live-status");
  if (!board || !window.EventSource) return;
  const url = `/api/v1/t/${encodeURIComponent(board.dataset.tenant)}/events?topic=alerts`;
  const source = new EventSource(url);
  let timer = null;
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(() => document.body.dispatchEvent(new CustomEvent("alerts-changed")), 250);
  };
  EVENT_TYPES.forEach((type) => source.addEventListener(type, changed));
  source.addEventListener("open", () => {
    if (!status) return;
    status.textContent = status.dataset.live;
    status.className = "badge on";
    status.dataset.state = "live";
  });
  source.addEventListener("error", () => {
    if (!status) return;
    status.textContent = status.dataset.offline;
    status.className = "badge warn";
    status.dataset.state = "offline";
  });
}

function start() {
  drawChart();
  follow();
  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (event.target && event.target.id === "alert-detail") drawChart();
  });
  window.addEventListener("resize", () => {
    const holder = document.getElementById("alert-chart");
    const chart = holder && window.echarts && window.echarts.getInstanceByDom(holder);
    if (chart) chart.resize();
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
