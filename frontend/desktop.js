// The agent desktop: status, incoming calls with the screen pop, call controls, wrap-up, dial pad,
// callbacks and recent calls.
//
// State = snapshot + events. The page carries the snapshot (the same as GET /desktop) and the id of
// the last event it includes; the desktop follows agent:<id> from there. On "resync", after a dropped
// connection comes back, and on reload it loads the snapshot again. The state handling is the pure
// reducer below (tests run it under node: tests/calls/test_pages.py); everything else draws it.

import { api, ApiError, byTestId, duration, el, format, localTime, onReady, readConfig } from "./calls_common.js";
import { openStream } from "./sse.js";

// ------------------------------------------------------------------ the state (pure)

export function initialState() {
  return { agentId: null, routing: null, current: null, ringing: [], wrapUp: null, notice: null, at: 0 };
}

function routingOf(routing, at) {
  if (!routing) return null;
  return {
    status: routing.status,
    break_reason: routing.break_reason === undefined ? null : routing.break_reason,
    state: routing.state,
    since: (at || 0) - (routing.time_in_state_s || 0),
  };
}

function without(list, callId) {
  return list.filter((call) => call.call_id !== callId);
}

function notCurrent(state, callId) {
  return state.current && state.current.call_id === callId ? null : state.current;
}

// (state, {type, data}) -> state. Types are the agent:<id> event names, plus "snapshot" (a fresh
// GET /desktop), "call.updated" (a call command's answer: hold, mute, recording, consult),
// "wrap_up.restore" and "wrap_up.done" (the wrap-up form, which lives only in the browser).
export function reduce(state, event) {
  const d = event.data || {};
  switch (event.type) {
    case "snapshot":
      return {
        ...state,
        agentId: d.agent_id === undefined ? state.agentId : d.agent_id,
        routing: routingOf(d.routing, d.at),
        current: d.current || null,
        ringing: (d.ringing || []).map((call) => ({ ...call })),
        at: d.at || 0,
      };
    case "agent.state_changed": {
      if (!state.routing || d.agent_id !== state.agentId) return state;
      // A call rings for me only while I am reserved: leaving that state ends every offer, even one
      // whose end no call event announced (the caller hung up while it rang).
      const offersOver = d.previous === "reserved" && d.state !== "reserved";
      return {
        ...state,
        routing: { ...state.routing, state: d.state, since: d.at },
        ringing: offersOver ? [] : state.ringing,
      };
    }
    case "agent.status_changed":
      if (!state.routing || d.agent_id !== state.agentId) return state;
      return {
        ...state,
        routing: { ...state.routing, status: d.status, break_reason: d.reason === undefined ? null : d.reason },
      };
    case "call.offered": {
      const { expires_at: _expires, ...call } = d;
      return { ...state, ringing: [...without(state.ringing, d.call_id), call] };
    }
    case "call.offer_ended":
      return { ...state, ringing: without(state.ringing, d.call_id) };
    case "call.connected":
    case "call.dialing":
    case "call.consult_ended":
      return { ...state, current: { ...d }, ringing: without(state.ringing, d.call_id), notice: null };
    case "call.dial_failed":
      return { ...state, notice: { kind: "dial_failed", cause: d.cause || "" } };
    case "call.updated":
      if (!state.current || state.current.call_id !== d.call_id) return state;
      return { ...state, current: { ...state.current, ...d } };
    case "call.wrap_up": {
      const { wrap_up_codes: codes, transferred, ...call } = d;
      return {
        ...state,
        current: notCurrent(state, d.call_id),
        ringing: without(state.ringing, d.call_id),
        wrapUp: { call, codes: codes || [], transferred: Boolean(transferred) },
      };
    }
    case "call.ended":
      return { ...state, current: notCurrent(state, d.call_id), ringing: without(state.ringing, d.call_id) };
    case "wrap_up.restore":
      return state.wrapUp ? state : { ...state, wrapUp: d };
    case "wrap_up.done":
      return state.wrapUp && state.wrapUp.call.call_id === d.call_id ? { ...state, wrapUp: null } : state;
    default:
      return state;
  }
}

// ------------------------------------------------------------------ the page

function boot() {
  const root = byTestId("desktop");
  const config = readConfig("desktop-config");
  if (!root || !config) return;
  const labels = config.labels;
  const text = labels.text;
  const call = (method, path, body) => api(config.api, method, path, body);

  let state = reduce(initialState(), { type: "snapshot", data: config.snapshot });
  let clockOffset = config.snapshot.at ? config.snapshot.at - Date.now() / 1000 : 0;
  const serverNow = () => Date.now() / 1000 + clockOffset;
  let buffered = null; // events that arrive while a snapshot loads
  const pops = new Map(); // call id -> screen pop ("loading" | data | null)
  let drawnPop; // the pop on screen
  const paused = new Set(); // calls whose recording I paused
  let targets = { queues: [], agents: [] };
  let queueNames = {};

  const $ = (id) => byTestId(id, root);
  const show = (id, visible) => {
    const node = $(id);
    if (node) node.hidden = !visible;
  };

  // ---------------------------------------------------------------- errors

  function showError(error) {
    const node = $("desktop-error");
    let message = text.error;
    if (error instanceof ApiError) message = error.message;
    node.textContent = message;
    node.hidden = false;
  }

  function clearError() {
    $("desktop-error").hidden = true;
  }

  async function attempt(work) {
    clearError();
    try {
      return await work();
    } catch (error) {
      showError(error);
      return undefined;
    }
  }

  // ---------------------------------------------------------------- drawing

  function statusText(routing) {
    if (!routing) return "—";
    const status = labels.status[routing.status] || routing.status;
    if (routing.status !== "break" || !routing.break_reason) return status;
    return `${status} · ${labels.break_reasons[routing.break_reason] || routing.break_reason}`;
  }

  function callFlags(current) {
    const flags = [];
    if (current.held) flags.push(text.held);
    if (current.muted) flags.push(text.muted);
    if (current.consulting) flags.push(text.consulting);
    if (!current.recording) flags.push(text.not_recording);
    return flags.join(" · ");
  }

  function drawStatus() {
    const routing = state.routing;
    $("agent-status").textContent = statusText(routing);
    $("agent-state").textContent = routing ? labels.state[routing.state] || routing.state : "—";
    root.dataset.status = routing ? routing.status : "none";
    root.dataset.state = routing ? routing.state : "none";
    $("not-agent").hidden = Boolean(routing);
    for (const id of ["go-available", "go-break", "go-offline", "break-reason"]) $(id).disabled = !routing;
    if (routing) {
      $("go-available").disabled = routing.status === "available";
      $("go-offline").disabled = routing.status === "offline";
      if (routing.status === "break" && routing.break_reason) {
        const select = $("break-reason");
        if ([...select.options].some((o) => o.value === routing.break_reason)) select.value = routing.break_reason;
      }
    }
  }

  function drawIncoming() {
    const list = $("incoming-list");
    list.replaceChildren(
      ...state.ringing.map((c) =>
        el(
          "li",
          { class: "incoming-call", dataset: { testid: "incoming-call", callId: c.call_id } },
          el("div", { class: "incoming-number", dataset: { testid: "incoming-number" } }, c.number || text.unknown),
          el(
            "div",
            { class: "muted" },
            [c.queue, c.kind === "callback" ? text.callback : labels.direction[c.direction]].filter(Boolean).join(" · "),
          ),
          el("div", { class: "timer", dataset: { testid: "incoming-wait", since: c.queued_at || c.started_at || "" } }),
          el(
            "div",
            { class: "controls" },
            el("button", { type: "button", class: "primary", dataset: { testid: "answer-call" },
              onclick: () => attempt(() => call("POST", `/calls/${c.call_id}/answer`)) }, text.pick_up),
            el("button", { type: "button", class: "danger", dataset: { testid: "reject-call" },
              onclick: () => attempt(() => call("POST", `/calls/${c.call_id}/reject`)) }, text.decline),
          ),
        ),
      ),
    );
    show("incoming", state.ringing.length > 0);
  }

  function drawCurrent() {
    const c = state.current;
    show("current-call", Boolean(c));
    if (!c) return;
    $("current-call").dataset.callId = c.call_id;
    $("current-call").dataset.state = c.state;
    $("call-number").textContent = c.number || text.unknown;
    $("call-queue").textContent = c.queue || "—";
    $("call-direction").textContent = c.kind === "callback" ? text.callback : labels.direction[c.direction] || c.direction;
    $("call-state").textContent = labels.call_state[c.state] || c.state;
    $("call-flags").textContent = callFlags(c);
    const connected = c.state === "connected";
    const outboundRinging = c.kind === "outbound" && c.state === "ringing";
    show("call-pickup", outboundRinging);
    const hint = $("outbound-hint");
    hint.hidden = !outboundRinging;
    hint.textContent = outboundRinging ? text.pick_up_outbound : "";
    $("call-hold").textContent = c.held ? text.unhold : text.hold;
    $("call-mute").textContent = c.muted ? text.unmute : text.mute;
    $("call-recording").textContent = paused.has(c.call_id) ? text.resume_recording : text.pause_recording;
    for (const id of ["call-hold", "call-mute"]) $(id).disabled = !connected;
    $("call-recording").disabled = !connected || !c.recording;
    show("transfer-form", connected && !c.consulting);
    show("consult-form", connected && !c.consulting);
    show("consult-controls", connected && Boolean(c.consulting));
  }

  function drawWrapUp() {
    const w = state.wrapUp;
    show("wrap-up", Boolean(w));
    if (!w) return;
    const section = $("wrap-up");
    if (section.dataset.callId === w.call.call_id) return; // keep what the agent typed
    section.dataset.callId = w.call.call_id;
    const parts = [w.call.number, w.call.queue].filter(Boolean);
    if (w.transferred) parts.push(text.transferred);
    $("wrap-up-call").textContent = parts.join(" · ");
    const codes = w.codes && w.codes.length ? w.codes : config.wrap_up_codes;
    $("wrap-up-code").replaceChildren(
      el("option", { value: "" }, text.choose),
      ...codes.map((code) => el("option", { value: code }, labels.wrap_up[code] || code)),
    );
    $("wrap-up-notes").value = "";
  }

  function popCallId() {
    if (state.current) return state.current.call_id;
    if (state.ringing.length) return state.ringing[0].call_id;
    if (state.wrapUp && pops.has(state.wrapUp.call.call_id)) return state.wrapUp.call.call_id;
    return null;
  }

  function drawPop() {
    const callId = popCallId();
    const pop = callId ? pops.get(callId) : undefined;
    show("screen-pop", Boolean(callId));
    if (!callId) return;
    const link = $("create-order-link");
    link.hidden = !config.can_create_orders;
    link.href = `/t/${config.tenant}/workorders/new?call_id=${encodeURIComponent(callId)}`;
    const body = $("screen-pop-body");
    if (body.dataset.callId === callId && drawnPop === pop) return;
    body.dataset.callId = callId;
    drawnPop = pop;
    if (pop === "loading" || pop === undefined) {
      body.replaceChildren(el("p", { class: "muted" }, "…"));
      return;
    }
    const nodes = [];
    if (pop && pop.customer) {
      const cu = pop.customer;
      nodes.push(
        el(
          "dl",
          { class: "facts" },
          el("dt", {}, text.name),
          el("dd", { dataset: { testid: "pop-name" } }, cu.name || ""),
          el("dt", {}, text.phones),
          el("dd", {}, (cu.phones || []).join(", ")),
          el("dt", {}, text.plan),
          el("dd", {}, cu.plan || "—"),
          el("dt", {}, text.star_level),
          el("dd", {}, String(cu.star_level ?? "—")),
        ),
      );
    } else {
      nodes.push(el("p", { class: "muted", dataset: { testid: "pop-no-customer" } }, text.no_customer));
    }
    const orders = (pop && pop.open_orders) || [];
    nodes.push(el("h3", {}, text.open_orders));
    nodes.push(
      orders.length
        ? el("ul", { class: "plain-list", dataset: { testid: "pop-orders" } },
          ...orders.map((o) => el("li", {}, el("a", { href: `/t/${config.tenant}/workorders/${o.id}`, target: "_blank", rel: "noopener" }, o.number), " ", o.title, " ", el("span", { class: "tag" }, o.status))))
        : el("p", { class: "muted" }, text.none),
    );
    const recent = (pop && pop.recent_calls) || [];
    nodes.push(el("h3", {}, text.recent_calls));
    nodes.push(
      recent.length
        ? el("ul", { class: "plain-list", dataset: { testid: "pop-recent" } },
          ...recent.map((r) => el("li", {}, localTime(r.started_at), " · ", labels.direction[r.direction] || r.direction, " · ", labels.outcome[r.outcome] || r.outcome || "—")))
        : el("p", { class: "muted" }, text.none),
    );
    body.replaceChildren(...nodes);
  }

  function drawNotice() {
    const n = state.notice;
    if (n && n.kind === "dial_failed") {
      const node = $("desktop-error");
      node.textContent = format(text.dial_failed, { cause: n.cause });
      node.hidden = false;
    }
  }

  function draw() {
    drawStatus();
    drawIncoming();
    drawCurrent();
    drawWrapUp();
    drawPop();
    drawNotice();
    show("waiting-panel", !state.current && !state.ringing.length && !state.wrapUp);
    tick();
    root.dataset.ready = "true";
  }

  function tick() {
    const now = serverNow();
    const since = (t) => duration(Math.max(0, now - t)); // the page's clock may trail the server's a little
    $("state-timer").textContent = state.routing ? since(state.routing.since) : "—";
    const c = state.current;
    if (c) $("talk-timer").textContent = since(c.answered_at || c.started_at || now);
    for (const node of root.querySelectorAll('[data-testid="incoming-wait"]')) {
      const start = Number(node.dataset.since);
      node.textContent = start ? since(start) : "";
    }
  }

  // ---------------------------------------------------------------- side data

  function ensurePop(callId) {
    if (!callId || pops.has(callId)) return;
    pops.set(callId, "loading");
    call("GET", `/calls/${callId}/customer`)
      .then((data) => pops.set(callId, data))
      .catch(() => pops.set(callId, null))
      .finally(draw);
  }

  function fillSelect(node, items, current) {
    node.replaceChildren(...items.map((item) => el("option", { value: item.id }, item.label)));
    if (current && items.some((item) => item.id === current)) node.value = current;
  }

  async function loadTargets() {
    try {
      targets = await call("GET", "/desktop/transfer-targets");
    } catch (error) {
      return;
    }
    queueNames = Object.fromEntries(targets.queues.map((q) => [q.id, q.name]));
    const queues = targets.queues.map((q) => ({
      id: q.id,
      label: `${q.name} (${q.waiting}${q.ewt_s === null || q.ewt_s === undefined ? "" : ` · ~${duration(q.ewt_s)}`})`,
    }));
    const agents = targets.agents.map((a) => ({
      id: a.id,
      label: `${a.name} · ${labels.status[a.status] || a.status} · ${labels.state[a.state] || a.state}`,
    }));
    fillSelect($("transfer-queue"), queues, $("transfer-queue").value);
    fillSelect($("transfer-agent"), agents, $("transfer-agent").value);
    fillSelect($("consult-agent"), agents, $("consult-agent").value);
    drawCallbacks();
  }

  let callbacks = [];
  function drawCallbacks() {
    const list = $("callback-list");
    list.replaceChildren(
      ...(callbacks.length
        ? callbacks.map((cb) => el("li", { dataset: { testid: "callback-item" } },
          el("strong", {}, cb.number || text.unknown), " · ", queueNames[cb.queue_id] || "", " · ",
          localTime(cb.enqueued_at)))
        : [el("li", { class: "muted" }, text.none)]),
    );
  }

  async function loadCallbacks() {
    try {
      callbacks = await call("GET", "/desktop/callbacks");
    } catch (error) {
      callbacks = [];
    }
    drawCallbacks();
  }

  let recentTimer = null;
  function loadRecentSoon() {
    if (recentTimer) return;
    recentTimer = setTimeout(() => {
      recentTimer = null;
      loadRecent();
    }, 800);
  }

  async function loadRecent() {
    let page;
    try {
      page = await call("GET", `/calls?limit=10&agent_id=${encodeURIComponent(config.agent_id)}`);
    } catch (error) {
      return null;
    }
    const rows = page.items || [];
    $("recent-calls-body").replaceChildren(
      ...rows.map((r) => el("tr", { dataset: { testid: "recent-call" } },
        el("td", {}, localTime(r.started_at)),
        el("td", {}, labels.direction[r.direction] || r.direction),
        el("td", {}, r.number_masked),
        el("td", {}, labels.outcome[r.outcome] || labels.call_state[r.state] || r.outcome || r.state),
        el("td", { class: "num" }, duration(r.talk_seconds)),
        el("td", {}, r.wrap_up_code ? labels.wrap_up[r.wrap_up_code] || r.wrap_up_code : "—"))),
    );
    return rows;
  }

  // What lives only in this tab (the wrap-up form, recordings I paused) survives a reload through
  // sessionStorage; a new tab in wrap-up finds the call in my history instead.
  const storageKey = `kefu.desktop.${config.tenant}.${config.agent_id}`;

  function remember() {
    try {
      const live = [...paused].filter((id) => state.current && state.current.call_id === id);
      sessionStorage.setItem(storageKey, JSON.stringify({ wrapUp: state.wrapUp, paused: live }));
    } catch (error) {
      // storage full or disabled: nothing to keep
    }
  }

  function recall() {
    let kept = null;
    try {
      kept = JSON.parse(sessionStorage.getItem(storageKey) || "null");
    } catch (error) {
      kept = null;
    }
    if (!kept) return;
    for (const id of kept.paused || []) paused.add(id);
    if (kept.wrapUp && kept.wrapUp.call) state = reduce(state, { type: "wrap_up.restore", data: kept.wrapUp });
  }

  async function restoreWrapUp() {
    if (!state.routing || state.routing.state !== "wrap_up" || state.wrapUp) return;
    const rows = await loadRecent();
    const currentId = state.current && state.current.call_id;
    const open = (rows || []).find((r) => !r.wrap_up_code && r.agent_id === state.agentId && r.id !== currentId);
    if (!open) return;
    dispatch({
      type: "wrap_up.restore",
      data: {
        call: { call_id: open.id, number: open.number_masked, queue: queueNames[open.queue_id] || null },
        codes: config.wrap_up_codes,
        transferred: false,
      },
    });
  }

  // ---------------------------------------------------------------- events and snapshots

  function dispatch(event) {
    state = reduce(state, event);
    afterEvent(event);
    draw();
    remember();
  }

  function afterEvent(event) {
    const d = event.data || {};
    switch (event.type) {
      case "call.offered":
        ensurePop(d.call_id);
        break;
      case "call.connected":
        ensurePop(d.call_id);
        loadTargets();
        break;
      case "call.wrap_up":
      case "call.ended":
        loadRecentSoon();
        break;
      default:
    }
  }

  function onEvent(type, payload) {
    if (type === "resync") {
      loadSnapshot();
      return;
    }
    const event = { type, data: payload.data || {}, ts: payload.ts };
    if (buffered) buffered.push(event);
    else dispatch(event);
  }

  async function loadSnapshot() {
    if (buffered) return; // one load at a time; events keep buffering
    buffered = [];
    let snapshot = null;
    try {
      snapshot = await call("GET", "/desktop");
    } catch (error) {
      showError(error);
    }
    const pending = buffered;
    buffered = null;
    if (snapshot) {
      clockOffset = snapshot.at - Date.now() / 1000;
      state = reduce(state, { type: "snapshot", data: snapshot });
    }
    for (const event of pending) {
      // The snapshot already holds what was published before it was taken.
      if (!snapshot || event.ts === undefined || event.ts >= snapshot.at) state = reduce(state, event);
    }
    afterSnapshot();
    draw();
    remember();
  }

  function afterSnapshot() {
    for (const c of state.ringing) ensurePop(c.call_id);
    if (state.current) ensurePop(state.current.call_id);
    restoreWrapUp();
  }

  function setConnection(value) {
    const node = $("connection");
    node.dataset.state = value;
    node.textContent = value === "open" ? text.live : value === "closed" ? text.signed_out : text.reconnecting;
  }

  // ---------------------------------------------------------------- controls

  function setStatus(status, reason) {
    return attempt(() =>
      call("POST", `/routing/agents/${config.agent_id}/status`, reason ? { status, reason } : { status }));
  }

  $("go-available").addEventListener("click", () => setStatus("available"));
  $("go-break").addEventListener("click", () => setStatus("break", $("break-reason").value));
  $("go-offline").addEventListener("click", () => setStatus("offline"));

  async function command(name, body) {
    const c = state.current;
    if (!c) return;
    const result = await attempt(() => call("POST", `/calls/${c.call_id}/${name}`, body));
    if (result && result.call) dispatch({ type: "call.updated", data: result.call });
    return result;
  }

  $("call-pickup").addEventListener("click", () => command("answer"));
  $("call-hold").addEventListener("click", () => command(state.current && state.current.held ? "resume" : "hold"));
  $("call-mute").addEventListener("click", () => command(state.current && state.current.muted ? "unmute" : "mute"));
  $("call-recording").addEventListener("click", async () => {
    const c = state.current;
    if (!c) return;
    const pausing = !paused.has(c.call_id);
    const result = await command(pausing ? "pause-recording" : "resume-recording");
    if (result) {
      if (pausing) paused.add(c.call_id);
      else paused.delete(c.call_id);
      draw();
      remember();
    }
  });
  $("call-hangup").addEventListener("click", () => command("hangup"));
  $("consult-complete").addEventListener("click", () => command("consult-complete"));
  $("consult-cancel").addEventListener("click", () => command("consult-cancel"));
  $("consult-conference").addEventListener("click", () => command("conference"));

  function toggleKind(kindId, fields) {
    const kind = $(kindId).value;
    for (const [value, id] of Object.entries(fields)) $(id).hidden = value !== kind;
  }
  const transferFields = { queue: "transfer-queue", agent: "transfer-agent", number: "transfer-number" };
  const consultFields = { agent: "consult-agent", number: "consult-number" };
  $("transfer-kind").addEventListener("change", () => toggleKind("transfer-kind", transferFields));
  $("consult-kind").addEventListener("change", () => toggleKind("consult-kind", consultFields));

  $("transfer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = $("transfer-kind").value;
    const value = $(transferFields[kind]).value.trim();
    if (!value) return;
    const key = kind === "queue" ? "queue_id" : kind === "agent" ? "agent_id" : "number";
    command("transfer", { [key]: value });
  });

  $("consult-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = $("consult-kind").value;
    const value = $(consultFields[kind]).value.trim();
    if (!value) return;
    command("consult", kind === "agent" ? { agent_id: value } : { number: value });
  });

  $("wrap-up-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const w = state.wrapUp;
    const code = $("wrap-up-code").value;
    if (!w || !code) return;
    const done = await attempt(() =>
      call("POST", `/calls/${w.call.call_id}/wrap-up`, { code, notes: $("wrap-up-notes").value }));
    if (done) {
      delete $("wrap-up").dataset.callId;
      dispatch({ type: "wrap_up.done", data: { call_id: w.call.call_id } });
      loadRecentSoon();
    }
  });

  for (const key of root.querySelectorAll("button.key")) {
    key.addEventListener("click", () => {
      const input = $("dial-number");
      input.value = (input.value + key.dataset.key).slice(0, 24);
      input.focus();
    });
  }
  $("dial-clear").addEventListener("click", () => {
    $("dial-number").value = "";
  });
  $("dial-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const number = $("dial-number").value.trim();
    if (!number) return;
    const result = await attempt(() => call("POST", "/calls/outbound", { number }));
    if (result && result.call) dispatch({ type: "call.dialing", data: result.call });
  });
  $("callbacks-refresh").addEventListener("click", loadCallbacks);

  // ---------------------------------------------------------------- start

  recall();
  draw();
  afterSnapshot();
  loadTargets();
  loadCallbacks();
  loadRecent();
  setInterval(tick, 1000);
  setInterval(loadCallbacks, 30000);
  if (config.agent_id) {
    const stream = openStream({
      url: `${config.api}/events?topic=${encodeURIComponent(`agent:${config.agent_id}`)}`,
      lastEventId: config.last_event_id,
      onEvent,
      onState: setConnection,
      onReconnect: loadSnapshot,
      onFatal: () => setConnection("closed"),
    });
    window.addEventListener("pagehide", () => stream.close());
  }
}

if (typeof document !== "undefined") onReady(boot);
