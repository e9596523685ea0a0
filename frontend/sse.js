// A small Server-Sent Events client on fetch(): every event name reaches one handler (EventSource
// only delivers names it was told about), Last-Event-ID is sent on every reconnect, and the caller
// hears about reconnects so it can reload its snapshot.

function parseFrame(frame) {
  const out = { id: null, event: "message", data: [], retry: null };
  for (const line of frame.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "id") out.id = value;
    else if (field === "event") out.event = value;
    else if (field === "data") out.data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) out.retry = Number(value);
  }
  return out;
}

// openStream({url, lastEventId, onEvent(type, payload, id), onState(state), onReconnect(), onFatal(status)})
// state is "open", "reconnecting" or "closed". Returns {close()}.
export function openStream(options) {
  let lastEventId = options.lastEventId || null;
  let retry = 2000;
  let failures = 0;
  let closed = false;
  let controller = null;
  let timer = null;
  let hadError = false;

  const setState = (state) => options.onState && options.onState(state);

  function schedule() {
    if (closed) return;
    hadError = true;
    setState("reconnecting");
    failures += 1;
    const delay = Math.min(retry * Math.max(1, failures), 30000);
    timer = setTimeout(connect, delay);
  }

  async function connect() {
    timer = null;
    controller = new AbortController();
    const headers = { Accept: "text/event-stream" };
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    let response;
    try {
      response = await fetch(options.url, {
        headers, signal: controller.signal, credentials: "same-origin", cache: "no-store",
      });
    } catch (error) {
      schedule();
      return;
    }
    if (response.status === 401 || response.status === 403) {
      closed = true;
      setState("closed");
      if (options.onFatal) options.onFatal(response.status);
      return;
    }
    if (!response.ok || !response.body) {
      schedule();
      return;
    }
    failures = 0;
    setState("open");
    if (hadError && options.onReconnect) options.onReconnect();
    hadError = false;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end = buffer.indexOf("\n\n");
        while (end !== -1) {
          const frame = parseFrame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf("\n\n");
          if (frame.retry !== null) retry = frame.retry;
          if (!frame.data.length) continue;
          if (frame.id !== null) lastEventId = frame.id;
          let payload = null;
          try {
            payload = JSON.parse(frame.data.join("\n"));
          } catch (error) {
            payload = null;
          }
          options.onEvent(frame.event, payload || {}, frame.id);
        }
      }
    } catch (error) {
      // dropped connection or closed by us; reconnect below unless closed
    }
    schedule();
  }

  connect();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (controller) controller.abort();
    },
    get lastEventId() {
      return lastEventId;
    },
  };
}
