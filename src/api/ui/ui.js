// rrdpipe's status page: polls /api/v1/status every second, lists every chart of every host,
// and plots the chosen ones from /api/v1/data. No dependencies, no build step.
"use strict";

const POLL_MS = 1000;
const PLOT_SECONDS = 300;
const LIST_LIMIT = 300;
const LOSS_MEMORY_MS = 60000;
const RECONNECTED_MS = 10000;
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

const $ = (id) => document.getElementById(id);
const state = {
  up: null, // null: never reached; true; false
  downSince: null,
  reconnectedAt: null,
  prev: null, // { at: ms, exporters: {name: totals} }
  lostAt: {}, // exporter name -> ms of the last interval with losses
  charts: [], // every chart of every host
  hostsKey: "",
  selected: [], // keys "ID" (local) or "HOST/ID"
  plots: new Map(), // key -> plot
  localHost: null,
};

// ------------------------------------------------------------------ fetching

async function getJson(path) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 5000);
  try {
    const r = await fetch(path, { signal: ctl.signal, cache: "no-store" });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return await r.json();
  } finally {
    clearTimeout(timer);
  }
}

function hostPrefix(host) {
  return host === state.localHost ? "" : `/host/${encodeURIComponent(host)}`;
}

// ------------------------------------------------------------------ formatting

function fmtDuration(s) {
  if (s < 60) return `${s} s`;
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}
function fmtBytes(b) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return `${b.toFixed(i ? 1 : 0)} ${u[i]}`;
}
function fmtTime(s) {
  return s == null ? "–" : new Date(s * 1000).toLocaleTimeString();
}
function fmtNum(v) {
  if (v == null || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-4)) return v.toExponential(3);
  return String(Number(v.toPrecision(6)));
}
function fmtRate(v) {
  return v == null ? "–" : v >= 100 ? v.toFixed(0) : v.toFixed(1);
}
function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

// ------------------------------------------------------------------ status

function setLink(up) {
  const el = $("link");
  if (up) {
    if (state.up === false) state.reconnectedAt = Date.now();
    const recent = state.reconnectedAt != null && Date.now() - state.reconnectedAt < RECONNECTED_MS;
    el.className = "link up";
    el.textContent = recent ? `reconnected at ${new Date(state.reconnectedAt).toLocaleTimeString()}` : "live";
  } else {
    if (state.downSince == null) state.downSince = Date.now();
    el.className = "link down";
    el.textContent = `agent unreachable since ${new Date(state.downSince).toLocaleTimeString()}; retrying`;
  }
}

function renderAgent(st, cpuPct) {
  const a = st.agent;
  $("hostname").textContent = a.hostname;
  $("version").textContent = a.version;
  document.title = `${a.hostname} · rrdpipe`;
  $("uptime").textContent = fmtDuration(Math.max(0, a.now - a.started));
  $("every").textContent = `${a.update_every} s`;
  $("history").textContent = `${a.history} slots (${fmtDuration(a.history * a.update_every)})`;
  $("store").textContent = fmtBytes(a.store_bytes);
  $("rss").textContent = fmtBytes(a.rss_bytes);
  $("cpu").textContent = cpuPct == null ? "–" : `${cpuPct.toFixed(1)} %`;
}

function renderHosts(st) {
  const body = $("hosts").tBodies[0];
  body.replaceChildren();
  for (const h of st.hosts) {
    const tr = document.createElement("tr");
    tr.dataset.host = h.hostname;
    cell(tr, h.hostname);
    const label = { local: "this agent", connected: "streaming", gone: "disconnected", never: "never connected" }[h.feed] || h.feed;
    cell(tr, label);
    cell(tr, h.since == null ? "–" : new Date(h.since * 1000).toLocaleString());
    cell(tr, String(h.charts), "num");
    cell(tr, String(h.dimensions), "num");
    if (h.feed === "gone") tr.className = "bad";
    body.appendChild(tr);
  }
}

function renderExporters(st, rates, now) {
  const body = $("exporters").tBodies[0];
  body.replaceChildren();
  $("no-exporters").hidden = st.exporters.length > 0;
  for (const e of st.exporters) {
    const r = rates[e.name] || {};
    if (r.lost > 0) state.lostAt[e.name] = now;
    const lostRecently = state.lostAt[e.name] != null && now - state.lostAt[e.name] < LOSS_MEMORY_MS;
    const tr = document.createElement("tr");
    tr.dataset.exporter = e.name;
    tr.dataset.state = e.failing_since != null ? "down" : lostRecently ? "losing" : "ok";
    if (e.failing_since != null || lostRecently) tr.className = "bad";
    cell(tr, e.name);
    cell(tr, e.type);
    const dest = cell(tr, e.failing_since != null ? `down since ${fmtTime(e.failing_since)}` : (e.peer || e.destinations));
    if (e.error) {
      const why = document.createElement("span");
      why.className = "why";
      why.textContent = e.error;
      dest.appendChild(why);
    }
    cell(tr, fmtRate(r.sent), "num");
    cell(tr, r.bytes == null ? "–" : `${fmtBytes(r.bytes)}/s`, "num");
    cell(tr, `${e.buffered_metrics} (${fmtBytes(e.buffered_bytes)})`, "num");
    cell(tr, fmtRate(r.lost), "num");
    cell(tr, fmtRate(r.replayed), "num");
    cell(tr, e.spool ? fmtBytes(e.spool_bytes) : "off", "num");
    cell(tr, e.last_success == null ? "never" : fmtTime(e.last_success));
    body.appendChild(tr);
  }
}

/// Per-second rates of each exporter's counters since the previous poll.
function rates(st, now) {
  const out = {};
  const prev = state.prev;
  for (const e of st.exporters) {
    const p = prev && prev.exporters[e.name];
    const dt = prev ? (now - prev.at) / 1000 : 0;
    if (!p || dt <= 0 || e.sent_metrics < p.sent_metrics) continue; // first poll, or the agent restarted
    out[e.name] = {
      sent: (e.sent_metrics - p.sent_metrics) / dt,
      bytes: (e.sent_bytes - p.sent_bytes) / dt,
      lost: (e.lost_metrics - p.lost_metrics) / dt,
      replayed: (e.replayed_metrics - p.replayed_metrics) / dt,
    };
  }
  return out;
}

async function pollStatus() {
  const now = Date.now();
  let st;
  try {
    st = await getJson("/api/v1/status");
  } catch (e) {
    setLink(false);
    state.up = false;
    return false;
  }
  const wasDown = state.up === false;
  setLink(true);
  state.up = true;
  state.downSince = null;
  state.localHost = st.agent.hostname;
  const r = rates(st, now);
  let cpuPct = null;
  if (state.prev && st.agent.cpu_seconds >= state.prev.cpu) {
    cpuPct = (100 * (st.agent.cpu_seconds - state.prev.cpu)) / ((now - state.prev.at) / 1000);
  }
  renderAgent(st, cpuPct);
  renderHosts(st);
  renderExporters(st, r, now);
  state.prev = { at: now, cpu: st.agent.cpu_seconds, exporters: Object.fromEntries(st.exporters.map((e) => [e.name, e])) };
  const hostsKey = st.hosts.map((h) => `${h.hostname}:${h.charts}`).join(",");
  if (wasDown || hostsKey !== state.hostsKey) {
    state.hostsKey = hostsKey;
    await loadCharts(st.hosts.map((h) => h.hostname));
  }
  return true;
}

// ------------------------------------------------------------------ the chart list

async function loadCharts(hosts) {
  const all = [];
  for (const host of hosts) {
    let doc;
    try {
      doc = await getJson(`${hostPrefix(host)}/api/v1/charts`);
    } catch (e) {
      continue;
    }
    for (const c of Object.values(doc.charts || {})) {
      all.push({
        host,
        key: host === state.localHost ? c.id : `${host}/${c.id}`,
        id: c.id,
        name: c.name || c.id,
        title: c.title || "",
        family: c.family || "",
        context: c.context || "",
        units: c.units || "",
        priority: c.priority || 0,
        text: `${host} ${c.id} ${c.name} ${c.family} ${c.context} ${c.title}`.toLowerCase(),
      });
    }
  }
  all.sort((a, b) => (a.host === state.localHost ? 0 : 1) - (b.host === state.localHost ? 0 : 1)
    || a.host.localeCompare(b.host) || a.priority - b.priority || a.id.localeCompare(b.id));
  state.charts = all;
  if (state.selected.length === 0) {
    state.selected = all.filter((c) => c.host === state.localHost).slice(0, 2).map((c) => c.key);
    syncPlots();
  } else {
    syncPlots();
  }
  renderList();
}

function renderList() {
  const q = $("search").value.trim().toLowerCase();
  const words = q ? q.split(/\s+/) : [];
  const list = $("chart-list");
  const frag = document.createDocumentFragment();
  let shown = 0, matched = 0;
  for (const c of state.charts) {
    if (!words.every((w) => c.text.includes(w))) continue;
    matched++;
    if (shown >= LIST_LIMIT) continue;
    shown++;
    const li = document.createElement("li");
    li.dataset.key = c.key;
    li.title = c.title;
    li.textContent = c.host === state.localHost ? c.id : `${c.host} › ${c.id}`;
    if (c.name !== c.id) {
      const s = document.createElement("small");
      s.textContent = c.name;
      li.appendChild(s);
    }
    if (state.selected.includes(c.key)) li.className = "on";
    frag.appendChild(li);
  }
  list.replaceChildren(frag);
  $("chart-more").textContent = matched > shown
    ? `${matched - shown} more of ${state.charts.length}: narrow the search`
    : `${matched} of ${state.charts.length} charts`;
}

function toggle(key) {
  const i = state.selected.indexOf(key);
  if (i >= 0) state.selected.splice(i, 1);
  else state.selected.push(key);
  syncPlots();
  renderList();
  refreshPlots();
}

function syncUrl() {
  const p = new URLSearchParams();
  for (const k of state.selected) p.append("chart", k);
  const q = p.toString();
  history.replaceState(null, "", q ? `?${q}` : location.pathname);
}

// ------------------------------------------------------------------ plots

function syncPlots() {
  const box = $("plots");
  for (const [key, plot] of state.plots) {
    if (!state.selected.includes(key)) {
      plot.el.remove();
      state.plots.delete(key);
    }
  }
  for (const key of state.selected) {
    if (!state.plots.has(key)) state.plots.set(key, newPlot(key));
  }
  for (const key of state.selected) box.appendChild(state.plots.get(key).el);
  syncUrl();
}

function newPlot(key) {
  const el = document.createElement("div");
  el.className = "plot";
  el.dataset.chart = key;
  const h = document.createElement("h3");
  const title = document.createElement("span");
  title.textContent = key;
  const close = document.createElement("button");
  close.textContent = "×";
  close.title = "remove";
  close.addEventListener("click", () => toggle(key));
  h.append(title, close);
  const canvas = document.createElement("canvas");
  const legend = document.createElement("div");
  legend.className = "legend";
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.hidden = true;
  el.append(h, canvas, legend, tip);
  const plot = { key, el, title, canvas, legend, tip, data: null, hover: null, error: null };
  canvas.addEventListener("mousemove", (ev) => {
    const r = canvas.getBoundingClientRect();
    plot.hover = (ev.clientX - r.left) / r.width;
    draw(plot);
  });
  canvas.addEventListener("mouseleave", () => { plot.hover = null; draw(plot); });
  return plot;
}

function chartOf(key) {
  return state.charts.find((c) => c.key === key);
}

async function refreshPlots() {
  await Promise.all(state.selected.map(async (key) => {
    const plot = state.plots.get(key);
    if (!plot) return;
    const c = chartOf(key);
    const host = c ? c.host : state.localHost;
    const id = c ? c.id : key;
    const url = `${hostPrefix(host)}/api/v1/data?chart=${encodeURIComponent(id)}&after=-${PLOT_SECONDS}&before=0&format=json&options=seconds`;
    try {
      const d = await getJson(url);
      // Rows come newest first; plot oldest first, from the first row holding a value.
      const rows = (d.data || []).slice().sort((a, b) => a[0] - b[0]);
      const first = rows.findIndex((r) => r.slice(1).some((v) => v != null));
      rows.splice(0, first < 0 ? rows.length : first);
      plot.data = { labels: d.labels || [], rows };
      plot.error = null;
    } catch (e) {
      plot.error = String(e.message || e);
    }
    plot.title.textContent = c ? `${c.title || c.name} · ${key}${c.units ? ` (${c.units})` : ""}` : key;
    draw(plot);
  }));
}

function draw(plot) {
  const cv = plot.canvas;
  const dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth, h = cv.clientHeight;
  if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(h * dpr);
  }
  const g = cv.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6b7680";
  if (plot.error || !plot.data || plot.data.rows.length === 0) {
    g.fillText(plot.error || "no data yet", 10, 20);
    plot.legend.replaceChildren();
    plot.tip.hidden = true;
    return;
  }
  const { labels, rows } = plot.data;
  plot.el.dataset.rows = String(rows.length);
  const dims = labels.length - 1;
  let lo = Infinity, hi = -Infinity;
  for (const r of rows) for (let i = 1; i <= dims; i++) if (r[i] != null) { lo = Math.min(lo, r[i]); hi = Math.max(hi, r[i]); }
  if (lo === Infinity) { lo = 0; hi = 1; }
  if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
  const left = 56, right = 8, top = 6, bottom = 18;
  const t0 = rows[0][0], t1 = rows[rows.length - 1][0];
  const x = (t) => left + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * (w - left - right));
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (h - top - bottom);
  // Axes: three value ticks, the first and last times.
  g.strokeStyle = "#eef1f3";
  g.lineWidth = 1;
  for (let k = 0; k <= 2; k++) {
    const v = lo + ((hi - lo) * k) / 2, yy = Math.round(y(v)) + 0.5;
    g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
    g.fillText(fmtNum(v), 2, yy + 4);
  }
  g.fillText(fmtTime(t0), left, h - 4);
  const last = fmtTime(t1);
  g.fillText(last, w - right - g.measureText(last).width, h - 4);
  // One line per dimension; an empty slot (null) breaks it.
  g.lineWidth = 1.5;
  for (let i = 1; i <= dims; i++) {
    g.strokeStyle = PALETTE[(i - 1) % PALETTE.length];
    g.beginPath();
    let pen = false;
    for (const r of rows) {
      if (r[i] == null) { pen = false; continue; }
      if (pen) g.lineTo(x(r[0]), y(r[i])); else g.moveTo(x(r[0]), y(r[i]));
      pen = true;
    }
    g.stroke();
  }
  // The hovered (or latest) row feeds the legend.
  let row = rows[rows.length - 1];
  if (plot.hover != null) {
    const t = t0 + Math.max(0, Math.min(1, (plot.hover * w - left) / (w - left - right))) * (t1 - t0);
    row = rows.reduce((best, r) => (Math.abs(r[0] - t) < Math.abs(best[0] - t) ? r : best), rows[0]);
    const xx = Math.round(x(row[0])) + 0.5;
    g.strokeStyle = "#9aa5ae"; g.lineWidth = 1;
    g.beginPath(); g.moveTo(xx, top); g.lineTo(xx, h - bottom); g.stroke();
    plot.tip.hidden = false;
    plot.tip.textContent = fmtTime(row[0]);
    plot.tip.style.left = `${Math.min(xx + 10, w - 80)}px`;
    plot.tip.style.top = "2.2em";
  } else {
    plot.tip.hidden = true;
  }
  const items = [];
  for (let i = 1; i <= dims; i++) {
    const s = document.createElement("span");
    const sw = document.createElement("span");
    sw.className = "sw";
    sw.style.background = PALETTE[(i - 1) % PALETTE.length];
    const val = document.createElement("b");
    val.textContent = fmtNum(row[i]);
    s.dataset.dimension = labels[i];
    s.append(sw, document.createTextNode(labels[i]), val);
    items.push(s);
  }
  plot.legend.replaceChildren(...items);
}

// ------------------------------------------------------------------ start

function start() {
  state.selected = new URLSearchParams(location.search).getAll("chart");
  $("search").addEventListener("input", renderList);
  $("chart-list").addEventListener("click", (ev) => {
    const li = ev.target.closest("li");
    if (li) toggle(li.dataset.key);
  });
  window.addEventListener("resize", () => state.plots.forEach(draw));
  if (state.selected.length) syncPlots();
  const loop = async () => {
    const ok = await pollStatus();
    if (ok) await refreshPlots();
    setTimeout(loop, POLL_MS);
  };
  loop();
}

start();
