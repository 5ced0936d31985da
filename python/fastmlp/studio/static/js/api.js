// Talking to the studio server: every API call carries the per-launch token of the URL.
const token = new URLSearchParams(location.search).get("token") || "";

export function withToken(path) {
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

// GET (no body) or POST (a JSON body); resolves to {ok, status, data} and never throws, so
// every caller shows the server's message (or the network's) instead of failing silently.
export async function api(path, body) {
  const opts = { headers: { "X-Studio-Token": token } };
  if (body !== undefined) {
    opts.method = "POST";
    opts.body = JSON.stringify(body);
    opts.headers["Content-Type"] = "application/json";
  }
  try {
    const r = await fetch(path, opts);
    let data;
    try { data = await r.json(); } catch { data = { error: `HTTP ${r.status}` }; }
    return { ok: r.ok, status: r.status, data };
  } catch (e) {
    return { ok: false, status: 0, data: { error: `cannot reach the server (${e.message})` } };
  }
}

// Live updates of one run (server-sent events); the last update carries the final run.
export function follow(runId, onUpdate) {
  const es = new EventSource(withToken(`/api/runs/${runId}/events`));
  es.addEventListener("update", (e) => {
    const u = JSON.parse(e.data);
    onUpdate(u);
    if (u.run) es.close();
  });
  es.onerror = () => es.close();  // the run record still has everything; no reconnect loop
  return es;
}

export function setMessage(el, text, kind) {
  el.textContent = text || "";
  el.className = "message" + (kind ? " " + kind : "");
}

export function fmtRate(v) {
  if (v == null || !isFinite(v)) return "-";
  if (v >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return v.toFixed(0);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
