// Complaint KPI dashboard: draws the charts from the JSON block the page carries (no inline script: strict CSP).
function readData() {
  const node = document.getElementById("kpi-data");
  if (!node) return null;
  try {
    return JSON.parse(node.textContent);
  } catch (error) {
    return null;
  }
}

function draw() {
  const data = readData();
  const echarts = window.echarts;
  if (!data || !echarts) return;
  const daily = document.getElementById("kpi-daily");
  if (daily) {
    const chart = echarts.init(daily);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { data: [data.labels.complaints, data.labels.intercepted, data.labels.archived, data.labels.breaches] },
      grid: { left: 40, right: 16, top: 40, bottom: 30 },
      xAxis: { type: "category", data: data.days },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: data.labels.complaints, type: "bar", data: data.complaints },
        { name: data.labels.intercepted, type: "line", data: data.intercepted },
        { name: data.labels.archived, type: "line", data: data.archived },
        { name: data.labels.breaches, type: "line", data: data.breaches },
      ],
    });
    daily.dataset.rendered = "true";
    window.addEventListener("resize", () => chart.resize());
  }
  const groups = document.getElementById("kpi-groups");
  if (groups) {
    const chart = echarts.init(groups);
    chart.setOption({
      tooltip: { trigger: "item" },
      series: [{
        type: "pie", radius: ["35%", "65%"],
        data: data.groups.map((name, i) => ({ name, value: data.group_complaints[i] })),
      }],
    });
    groups.dataset.rendered = "true";
    window.addEventListener("resize", () => chart.resize());
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", draw);
} else {
  draw();
}
