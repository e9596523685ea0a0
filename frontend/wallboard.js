// The supervisor wallboard: queues, agents by state with time in state, alerts and today's intraday
// chart. Real time over the "wallboard" (and "alerts") topics: agent state and status events are applied
// directly; queue changes refetch /routing/stats, at most every 500 ms however many arrive.

import { api, ApiError, byTestId, duration, el, format, onReady, readConfig } from "./calls_common.js";
import { openStream } from "./sse.js";

const GROUPS = ["idle", "reserved", "busy", "wrap_up", "missed", "break", "offline"];
const STATS_MIN_INTERVAL_MS = 500;
const INTRADAY_DELAY_MS = 5000; // calls that connect or end show in the chart within a few seconds

// ------------------------------------------------------------------ agents (pure)

export function agentsFromStats(stats) {
  const at = stats.at || 0;
  const out = {};
  for (const a of stats.agents || []) {
    const since = at - (a.time_in_state_s || 0);
    out[a.agent_id] = {
      id: a.agent_id, name: a.name, status: a.status, break_reason: a.break_reason, state: a.state,
      since, status_since: null,
    };
  }
  return out;
}

export function applyAgentEvent(agents, type, d) {
  const agent = agents[d.agent_id];
  if (!agent) return agents;
  if (type === "agent.state_changed") {
    if (d.at < agent.since) return agents; // older than what we show
    return { ...agents, [d.agent_id]: { ...agent, state: d.state, since: d.at } };
  }
  if (type === "agent.status_changed") {
    return {
      ...agents,
      [d.agent_id]: { ...agent, status: d.status, break_reason: d.reason === undefined ? null : d.reason, status_since: d.at },
    };
  }
  return agents;
}

export function groupOf(agent) {
  if (agent.status === "offline") return "offline";
  if (agent.status === "break" && (agent.state === "idle" || agent.state === "missed")) return "break";
  return agent.state;
}

// ------------------------------------------------------------------ the page

function boot() {
  const root = byTestId("wallboard");
  const config = readConfig("wallboard-config");
  if (!root || !config) return;
  const labels = config.labels;
  const text = labels.text;
  const $ = (id) => byTestId(id, root);
  const call = (method, path) => api(config.api, method, path);

  let stats = null;
  let agents = {};
  let clockOffset = 0;
  const serverNow = () => Date.now() / 1000 + clockOffset;
  const alerts = [];
  let chart = null;

  function showError(error) {
    const node = $("wallboard-error");
    node.textContent = error instanceof ApiError ? error.message : String(error);
    node.hidden = false;
  }

  // ---------------------------------------------------------------- drawing

  const pct = (value) => (value === null || value === undefined ? "—" : `${Math.round(value * 1000) / 10}%`);
  const waitOf = (q, now) =>
    q.longest_wait_s === null || q.longest_wait_s === undefined || !q.waiting
      ? null
      : q.longest_wait_s + Math.max(0, now - stats.at);

  function drawQueues() {
    const rows = (stats && stats.queues) || [];
    const body = $("queue-rows");
    if (!rows.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 10, class: "muted" }, text.no_queues)));
      return;
    }
    const sorted = [...rows].sort((a, b) => String(a.name).localeCompare(String(b.name)));
    body.replaceChildren(
      ...sorted.map((q) =>
        el(
          "tr",
          {
            class: q.waiting && !q.staffed ? "warn-row" : "",
            dataset: { testid: "queue-row", queueId: q.queue_id, queueName: q.name },
          },
          el("td", { dataset: { testid: "queue-name" } }, q.name),
          el("td", { class: "num big-num", dataset: { testid: "queue-waiting" } }, String(q.waiting)),
          el("td", { class: "num", dataset: { testid: "queue-longest", queueId: q.queue_id } }, ""),
          el("td", { class: "num", dataset: { testid: "queue-ewt" } },
            q.ewt_s === null || q.ewt_s === undefined ? text.unknown : duration(q.ewt_s)),
          el("td", { class: "num", dataset: { testid: "queue-sl" } }, pct(q.service_level)),
          el("td", { class: "num" }, String(q.offered)),
          el("td", { class: "num", dataset: { testid: "queue-answered" } }, String(q.answered)),
          el("td", { class: "num", dataset: { testid: "queue-abandoned" } }, String(q.abandoned)),
          el("td", { class: "num" }, duration(q.average_answer_s)),
          el("td", { class: "num" }, `${q.staffed}`),
        ),
      ),
    );
  }

  function drawTiles() {
    const queues = (stats && stats.queues) || [];
    const sum = (key) => queues.reduce((total, q) => total + (q[key] || 0), 0);
    $("tile-waiting").textContent = stats ? String(sum("waiting")) : "—";
    const offered = sum("offered");
    $("tile-sl").textContent = stats ? pct(offered ? sum("answered_in_sl") / offered : null) : "—";
    $("tile-answered").textContent = stats ? String(sum("answered")) : "—";
    $("tile-abandoned").textContent = stats ? String(sum("abandoned")) : "—";
    const available = Object.values(agents).filter((a) => a.status === "available").length;
    $("tile-available").textContent = stats ? String(available) : "—";
  }

  function drawAgents() {
    const groups = Object.fromEntries(GROUPS.map((g) => [g, []]));
    for (const agent of Object.values(agents)) (groups[groupOf(agent)] || (groups[groupOf(agent)] = [])).push(agent);
    const nodes = [];
    for (const [key, members] of Object.entries(groups)) {
      members.sort((a, b) => a.since - b.since);
      const title = key === "break" || key === "offline" ? labels.status[key] : labels.state[key] || key;
      nodes.push(
        el(
          "div",
          { class: `agent-group group-${key}`, dataset: { testid: "agent-group", group: key } },
          el("h3", {}, title, " ", el("span", { class: "badge off", dataset: { testid: "agent-group-count" } }, String(members.length))),
          members.length
            ? el("ul", { class: "plain-list" },
              ...members.map((a) => {
                const detail = a.status === "break" && a.break_reason ? labels.break_reasons[a.break_reason] || a.break_reason : "";
                return el(
                  "li",
                  { class: "agent", dataset: { testid: "agent-row", agentId: a.id, state: a.state, status: a.status } },
                  el("span", { class: "agent-name" }, a.name),
                  detail ? el("span", { class: "muted" }, ` · ${detail}`) : null,
                  el("span", { class: "timer", dataset: { testid: "agent-time", agentId: a.id } }, ""),
                );
              }))
            : el("p", { class: "muted" }, text.no_agents),
        ),
      );
    }
    $("agent-groups").replaceChildren(...nodes);
  }

  function drawAlerts() {
    const list = $("alert-list");
    if (!list) return;
    list.replaceChildren(
      ...(alerts.length
        ? alerts.map((a) => {
          const d = a.data || {};
          const parts = [d.area ?? d.area_path, d.category ?? d.category_path].filter(Boolean).map(String);
          if (d.count !== undefined) parts.push(`${text.count} ${d.count}`);
          if (d.expected !== undefined) parts.push(`${text.expected} ${d.expected}`);
          const when = a.ts ? new Date(a.ts * 1000).toLocaleTimeString() : "";
          return el(
            "li",
            { class: `alert-item ${a.type.startsWith("incident") ? "incident" : ""}`, dataset: { testid: "alert-item", type: a.type } },
            el("strong", {}, d.title || a.type), " ",
            el("span", { class: "muted" }, parts.join(" · ")), " ",
            el("span", { class: "muted" }, when),
          );
        })
        : [el("li", { class: "muted" }, text.no_alerts)]),
    );
  }

  // One line per alert or incident: a newer event about the same one replaces the older line.
  function addAlert(type, data, ts) {
    const key = data.id ? `${type.split(".")[0]}:${data.id}` : null;
    const at = key ? alerts.findIndex((a) => a.key === key) : -1;
    if (at !== -1) alerts.splice(at, 1);
    alerts.unshift({ key, type, data, ts });
    alerts.splice(20);
  }

  async function loadAlerts() {
    if (!config.alerts_list) return;
    let page;
    try {
      page = await call("GET", "/alerts?status=open&limit=10");
    } catch (error) {
      return;
    }
    for (const item of [...(page.items || [])].reverse()) {
      if (!alerts.some((a) => a.key === `alert:${item.id}`)) {
        addAlert(`alert.${item.status}`, item, Date.parse(item.last_seen_at) / 1000 || undefined);
      }
    }
    drawAlerts();
  }

  function tick() {
    const now = serverNow();
    if (stats) {
      let longest = null;
      for (const q of stats.queues || []) {
        const wait = waitOf(q, now);
        const node = root.querySelector(`[data-testid="queue-longest"][data-queue-id="${q.queue_id}"]`);
        if (node) node.textContent = wait === null ? "—" : duration(wait);
        if (wait !== null && (longest === null || wait > longest)) longest = wait;
      }
      $("tile-longest").textContent = longest === null ? "—" : duration(longest);
    }
    for (const node of root.querySelectorAll('[data-testid="agent-time"]')) {
      const agent = agents[node.dataset.agentId];
      if (!agent) continue;
      const since = agent.status !== "available" && agent.status_since ? Math.max(agent.status_since, agent.since) : agent.since;
      node.textContent = duration(Math.max(0, now - since));
    }
  }

  function draw() {
    drawTiles();
    drawQueues();
    drawAgents();
    tick();
    root.dataset.ready = "true";
  }

  // ---------------------------------------------------------------- statistics, coalesced

  let inFlight = false;
  let again = false;
  let lastFetch = 0;
  let timer = null;
  let buffered = null;

  function refreshStats() {
    if (!config.can_read_stats) return;
    if (inFlight) {
      again = true;
      return;
    }
    if (timer) return;
    const wait = Math.max(0, lastFetch + STATS_MIN_INTERVAL_MS - Date.now());
    timer = setTimeout(fetchStats, wait);
  }

  async function fetchStats() {
    timer = null;
    inFlight = true;
    again = false;
    lastFetch = Date.now();
    buffered = [];
    try {
      const fresh = await call("GET", "/routing/stats");
      stats = fresh;
      clockOffset = fresh.at - Date.now() / 1000;
      agents = agentsFromStats(fresh);
      for (const e of buffered) if (e.ts === undefined || e.ts >= fresh.at) agents = applyAgentEvent(agents, e.type, e.data);
      $("updated-at").textContent = format(text.updated, { time: new Date().toLocaleTimeString() });
      $("wallboard-error").hidden = true;
      draw();
    } catch (error) {
      showError(error);
    } finally {
      inFlight = false;
      buffered = null;
      if (again) refreshStats();
    }
  }

  // ---------------------------------------------------------------- intraday chart

  async function loadIntraday() {
    let data;
    try {
      data = await call("GET", "/wallboard/intraday");
    } catch (error) {
      return;
    }
    const t = data.totals;
    $("intraday-totals").textContent =
      `${text.offered} ${t.offered} · ${text.answered} ${t.answered} · ${text.abandoned} ${t.abandoned} · ${text.service_level} ${pct(t.service_level)}`;
    const node = document.getElementById("intraday-chart");
    if (!window.echarts || !node) return;
    if (!chart) {
      chart = window.echarts.init(node);
      window.addEventListener("resize", () => chart.resize());
    }
    const b = data.buckets;
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { top: 0, data: [text.offered, text.answered, text.abandoned, text.service_level] },
      grid: { left: 40, right: 56, top: 40, bottom: 30 },
      xAxis: { type: "category", data: b.map((x) => x.start) },
      yAxis: [
        { type: "value", minInterval: 1 },
        { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      ],
      series: [
        { name: text.offered, type: "bar", data: b.map((x) => x.offered) },
        { name: text.answered, type: "bar", data: b.map((x) => x.answered) },
        { name: text.abandoned, type: "bar", data: b.map((x) => x.abandoned) },
        {
          name: text.service_level, type: "line", yAxisIndex: 1, connectNulls: false,
          data: b.map((x) => (x.service_level === null ? null : Math.round(x.service_level * 1000) / 10)),
        },
      ],
    });
    node.dataset.rendered = "true";
  }

  let intradayTimer = null;
  function refreshIntradaySoon() {
    if (intradayTimer) return;
    intradayTimer = setTimeout(() => {
      intradayTimer = null;
      loadIntraday();
    }, INTRADAY_DELAY_MS);
  }

  // ---------------------------------------------------------------- events

  function onEvent(type, payload) {
    if (type === "resync") {
      refreshStats();
      return;
    }
    const d = payload.data || {};
    if (type === "agent.state_changed" || type === "agent.status_changed") {
      if (buffered) buffered.push({ type, data: d, ts: payload.ts });
      agents = applyAgentEvent(agents, type, d);
      drawTiles();
      drawAgents();
      tick();
      return;
    }
    if (type === "queue.changed" || type === "callback.queued") {
      refreshStats();
      return;
    }
    if (type === "call.connected" || type === "call.ended") {
      refreshIntradaySoon();
      return;
    }
    if (type.startsWith("alert") || type.startsWith("incident")) {
      addAlert(type, d, payload.ts);
      drawAlerts();
    }
  }

  function setConnection(value) {
    const node = $("connection");
    node.dataset.state = value;
    node.textContent = value === "open" ? text.live : value === "closed" ? text.signed_out : text.reconnecting;
  }

  // ---------------------------------------------------------------- start

  drawAlerts();
  loadAlerts();
  if (config.can_read_stats) fetchStats();
  loadIntraday();
  setInterval(tick, 1000);
  setInterval(refreshStats, 15000);
  setInterval(loadIntraday, 60000);
  const query = config.topics.map((t) => `topic=${encodeURIComponent(t)}`).join("&");
  const stream = openStream({
    url: `${config.api}/events?${query}`,
    onEvent,
    onState: setConnection,
    onReconnect: () => {
      refreshStats();
      loadIntraday();
    },
    onFatal: () => setConnection("closed"),
  });
  window.addEventListener("pagehide", () => stream.close());
}

if (typeof document !== "undefined") onReady(boot);
