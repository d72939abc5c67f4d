// Weir dashboard: reads /api/v1 and renders the route in location.hash.
"use strict";

const app = document.getElementById("app");

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function state(s) { return `<span class="state ${esc(s)}">${esc(s)}</span>`; }
function num(n) { return (n ?? 0).toLocaleString("en-US"); }
function time(ms) { return ms > 0 ? new Date(ms).toLocaleString("sv-SE") : "-"; }
function dur(ms) {
  if (ms == null || ms < 0) return "-";
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  return h > 0 ? `${h} h ${m % 60} min` : `${m} min ${Math.floor(s % 60)} s`;
}
function bytes(n) {
  if (n == null) return "-";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function table(id, head, rows, empty) {
  if (!rows.length) return `<p class="muted" id="${id}-empty">${esc(empty)}</p>`;
  const th = head.map(h => h.startsWith("#") ? `<th class="num">${esc(h.slice(1))}</th>` : `<th>${esc(h)}</th>`).join("");
  return `<table id="${id}"><thead><tr>${th}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

async function api(path) {
  const r = await fetch("/api/v1" + path, { cache: "no-store" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.errors || [r.status + " " + r.statusText]).join("; "));
  return body;
}

// Pages: each returns HTML for its route.

async function overviewPage() {
  const [o, jobs] = await Promise.all([api("/overview"), api("/jobs")]);
  const card = (n, l) => `<div class="card"><div class="n">${num(n)}</div><div class="l">${esc(l)}</div></div>`;
  const running = jobs.jobs.filter(j => !["FINISHED", "FAILED", "CANCELED"].includes(j.state));
  return `<h1>Cluster overview</h1>
    <div class="cards" id="overview">
      ${card(o.taskmanagers, "task managers")}${card(o["slots-total"], "slots")}${card(o["slots-available"], "free slots")}
      ${card(o["jobs-running"], "running jobs")}${card(o["jobs-finished"], "finished")}${card(o["jobs-cancelled"], "canceled")}${card(o["jobs-failed"], "failed")}
    </div>
    <h2>Running jobs</h2>${jobsTable(running, "running-jobs")}`;
}

function jobsTable(jobs, id) {
  const now = Date.now();
  const rows = jobs.slice().reverse().map(j => `<tr data-jid="${esc(j.jid)}" data-state="${esc(j.state)}">
    <td><a href="#/jobs/${esc(j.jid)}">${esc(j.name || "(unnamed)")}</a></td><td><code>${esc(j.jid)}</code></td>
    <td>${state(j.state)}</td><td>${time(j["start-time"])}</td>
    <td class="num">${dur((j["end-time"] || now) - j["start-time"])}</td><td>${esc(j.message || "")}</td></tr>`);
  return table(id, ["Name", "Job ID", "Status", "Started", "#Duration", "Message"], rows, "No jobs.");
}

async function jobsPage() {
  const jobs = await api("/jobs");
  return `<h1>Jobs</h1>${jobsTable(jobs.jobs, "jobs-table")}`;
}

async function jobPage(id, tab, cid) {
  const j = await api("/jobs/" + encodeURIComponent(id));
  const tabs = [["", "Overview"], ["checkpoints", "Checkpoints"], ["exceptions", "Exceptions"]].map(([t, l]) =>
    `<a href="#/jobs/${esc(id)}${t ? "/" + t : ""}" class="${tab === t ? "active" : ""}" data-tab="${t || "overview"}">${l}</a>`).join("");
  let body;
  if (tab === "checkpoints") body = cid ? await checkpointDetail(id, cid) : await checkpointsTab(id);
  else if (tab === "exceptions") body = await exceptionsTab(id);
  else body = jobOverview(j);
  return `<h1>${esc(j.name || "(unnamed)")} ${state(j.state)}</h1>
    <div class="muted"><code>${esc(j.jid)}</code> · started ${time(j["start-time"])} · ${dur(j.duration)} ·
      parallelism ${j.parallelism} · restarts ${j.restarts}${j.checkpointing ? "" : " · no checkpoints"}</div>
    ${j.message ? `<div class="msg">${esc(j.message)}</div>` : ""}
    <div class="tabs">${tabs}</div>${body}`;
}

function jobOverview(j) {
  const names = Object.fromEntries(j.vertices.map(v => [v.id, v.name]));
  const out = {};
  for (const e of j.edges) (out[e.source] ||= []).push(e);
  const graph = j.vertices.map((v, i) => {
    const m = v.metrics;
    const box = `<div class="vertex ${esc(v.status)}" data-vertex="${v.id}">
      <div class="name">${esc(v.name)}</div>
      <div class="ops">${v.operators.map(o => esc(o.name) + " <span class=muted>(" + esc(o.kind.toLowerCase()) + ")</span>").join(" → ")}</div>
      <div>${state(v.status)} parallelism ${v.parallelism}</div>
      <div class="m">records in ${num(m["read-records"])} · out ${num(m["write-records"])} · backpressured ${dur(m["backpressured-millis"])}</div></div>`;
    const edges = (out[v.id] || []).map(e => `<div class="edge"><div>${esc(e.ship_strategy.toLowerCase().replace("_", " "))}</div>
      <div class="arrow">→</div><div>${esc(names[e.target])}</div></div>`).join("");
    return box + edges;
  }).join("");
  const rows = j.subtasks.map(s => `<tr><td>${esc(s.name)}</td><td class="num">${s.subtask}</td><td class="num">${s.attempt}</td>
    <td>${state(s.status)}</td><td>${s.taskmanager ? `<a href="#/taskmanagers/${esc(s.taskmanager)}">${esc(s.taskmanager)}</a>` : "-"}</td>
    <td class="num">${num(s.metrics["read-records"])}</td><td class="num">${num(s.metrics["write-records"])}</td>
    <td class="num">${bytes(s.metrics["read-bytes-remote"])}</td><td class="num">${bytes(s.metrics["write-bytes-remote"])}</td>
    <td class="num">${dur(s.metrics["backpressured-millis"])}</td><td class="error">${esc(s.failure || "")}</td></tr>`);
  return `<h2>Operator graph</h2><div class="graph" id="graph">${graph}</div>
    <h2>Subtasks</h2>${table("subtasks", ["Task", "#Subtask", "#Attempt", "Status", "Task manager", "#Records in", "#Records out",
      "#Bytes in (remote)", "#Bytes out (remote)", "#Backpressured", "Failure"], rows, "No subtasks deployed.")}`;
}

async function checkpointsTab(id) {
  const [c, conf] = await Promise.all([api(`/jobs/${encodeURIComponent(id)}/checkpoints`), api(`/jobs/${encodeURIComponent(id)}/checkpoints/config`)]);
  const n = c.counts, l = c.latest;
  const latest = (what, cp) => cp ? `<tr><td>${what}</td><td><a href="#/jobs/${esc(id)}/checkpoints/${cp.id}">${cp.id}</a></td>
    <td>${time(cp.trigger_timestamp)}</td><td class="num">${dur(cp.end_to_end_duration)}</td><td class="num">${bytes(cp.state_size)}</td>
    <td>${esc(cp.external_path || cp.failure_message || "")}</td></tr>` : `<tr><td>${what}</td><td colspan="5" class="muted">none</td></tr>`;
  const rows = c.history.map(cp => `<tr data-checkpoint="${cp.id}" data-status="${esc(cp.status)}">
    <td><a href="#/jobs/${esc(id)}/checkpoints/${cp.id}">${cp.id}</a></td><td>${state(cp.status)}</td>
    <td>${cp.is_savepoint ? "savepoint" : "checkpoint"}</td><td>${time(cp.trigger_timestamp)}</td>
    <td class="num">${dur(cp.end_to_end_duration)}</td><td class="num">${bytes(cp.state_size)}</td>
    <td class="num">${dur(cp.alignment_duration)}</td><td class="num">${cp.num_acknowledged_subtasks}/${cp.num_subtasks}</td>
    <td class="error">${esc(cp.failure_message)}</td></tr>`);
  const confRows = conf.enabled ? [["Mode", conf.mode], ["Interval", dur(conf.interval)], ["Timeout", dur(conf.timeout)],
    ["Minimum pause", dur(conf.min_pause)], ["Max concurrent", conf.max_concurrent], ["Tolerable failed checkpoints", conf.tolerable_failed_checkpoints],
    ["Retained", conf.num_retained], ["Storage", conf.checkpoint_storage], ["Savepoints", conf.savepoints_dir || "-"], ["On cancel", conf.externalization]]
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`) : [];
  return `<div class="cards" id="checkpoint-counts">
      <div class="card"><div class="n">${n.completed}</div><div class="l">completed</div></div>
      <div class="card"><div class="n">${n.in_progress}</div><div class="l">in progress</div></div>
      <div class="card"><div class="n">${n.failed}</div><div class="l">failed</div></div>
      <div class="card"><div class="n">${c.restore_fallbacks}</div><div class="l">restore fallbacks</div></div></div>
    <h2>Latest</h2><table id="checkpoint-latest"><thead><tr><th></th><th>ID</th><th>Triggered</th><th class="num">Duration</th><th class="num">Size</th><th>Path or cause</th></tr></thead>
      <tbody>${latest("Completed (restored on failure)", l.completed)}${latest("Savepoint", l.savepoint)}${latest("Failed", l.failed)}</tbody></table>
    <h2>History</h2>${table("checkpoint-history", ["ID", "Status", "Kind", "Triggered", "#End to end", "#State size", "#Alignment",
      "#Acknowledged", "Failure"], rows, "No checkpoints yet.")}
    <h2>Configuration</h2>${conf.enabled ? `<table id="checkpoint-config">${confRows.join("")}</table>` : `<p class="muted">This job takes no checkpoints.</p>`}`;
}

async function checkpointDetail(id, cid) {
  const d = await api(`/jobs/${encodeURIComponent(id)}/checkpoints/details/${encodeURIComponent(cid)}`);
  const rows = d.subtasks.map(s => `<tr data-status="${esc(s.status)}"><td>${esc(s.name)}</td><td class="num">${s.subtask}</td><td>${state(s.status)}</td>
    <td>${s.ack_timestamp ? time(s.ack_timestamp) : "-"}</td><td class="num">${s.ack_timestamp ? dur(s.end_to_end_duration) : "-"}</td>
    <td class="num">${bytes(s.state_size)}</td><td class="num">${dur(s.sync_duration)}</td><td class="num">${dur(s.async_duration)}</td>
    <td class="num">${dur(s.alignment_duration)}</td></tr>`);
  return `<p><a href="#/jobs/${esc(id)}/checkpoints">← all checkpoints</a></p>
    <h2>${d.is_savepoint ? "Savepoint" : "Checkpoint"} ${d.id} ${state(d.status)}</h2>
    <div class="muted">triggered ${time(d.trigger_timestamp)} · ${dur(d.end_to_end_duration)} · ${bytes(d.state_size)} ·
      ${d.num_acknowledged_subtasks}/${d.num_subtasks} acknowledged${d.external_path ? " · " + esc(d.external_path) : ""}</div>
    ${d.failure_message ? `<div class="msg error">${esc(d.failure_message)}</div>` : ""}
    <h2>Subtasks</h2>${table("checkpoint-subtasks", ["Task", "#Subtask", "Status", "Acknowledged", "#End to end", "#State size",
      "#Sync", "#Async", "#Alignment"], rows, "No subtasks.")}`;
}

async function exceptionsTab(id) {
  const e = await api(`/jobs/${encodeURIComponent(id)}/exceptions`);
  const rows = e.exceptions.map(x => `<tr><td>${time(x.timestamp)}</td><td class="num">${x.attempt}</td>
    <td>${x.restarted ? "restarted after " + dur(x.restart_delay) : "job ended"}</td><td class="error">${esc(x.cause)}</td></tr>`);
  return `<p>${e.restarts} restart(s).</p>${table("exceptions", ["Time", "#Attempt", "Then", "Cause"], rows, "No failures.")}`;
}

async function taskManagersPage() {
  const t = await api("/taskmanagers");
  const rows = t.taskmanagers.map(m => `<tr data-taskmanager="${esc(m.id)}"><td><a href="#/taskmanagers/${esc(m.id)}">${esc(m.id)}</a></td>
    <td><code>${esc(m.address)}</code></td><td class="num">${m.slotsNumber}</td><td class="num">${m.freeSlots}</td>
    <td class="num">${m.subtasks}</td><td>${time(m.timeSinceLastHeartbeat)}</td></tr>`);
  return `<h1>Task managers</h1>${table("taskmanagers", ["ID", "Address", "#Slots", "#Free", "#Subtasks", "Last heartbeat"], rows, "No task managers registered.")}`;
}

async function taskManagerPage(id) {
  const m = await api("/taskmanagers/" + encodeURIComponent(id));
  const rows = m.tasks.map(s => `<tr><td><a href="#/jobs/${esc(s.jid)}">${esc(s["job-name"] || s.jid)}</a></td><td>${esc(s.name)}</td>
    <td class="num">${s.subtask}</td><td class="num">${s.attempt}</td><td>${state(s.status)}</td>
    <td class="num">${num(s.metrics["read-records"])}</td><td class="num">${num(s.metrics["write-records"])}</td>
    <td class="num">${dur(s.metrics["backpressured-millis"])}</td></tr>`);
  return `<h1>Task manager ${esc(m.id)}</h1>
    <div class="muted"><code>${esc(m.address)}</code> · ${m.slotsNumber} slots, ${m.freeSlots} free · last heartbeat ${time(m.timeSinceLastHeartbeat)}</div>
    <h2>Subtasks</h2>${table("tm-subtasks", ["Job", "Task", "#Subtask", "#Attempt", "Status", "#Records in", "#Records out", "#Backpressured"], rows, "No subtasks running here.")}`;
}

function route() {
  const p = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (p[0] === "jobs" && p[1]) return ["jobs", () => jobPage(p[1], p[2] || "", p[3])];
  if (p[0] === "jobs") return ["jobs", jobsPage];
  if (p[0] === "taskmanagers" && p[1]) return ["taskmanagers", () => taskManagerPage(p[1])];
  if (p[0] === "taskmanagers") return ["taskmanagers", taskManagersPage];
  return ["overview", overviewPage];
}

let generation = 0;
async function render() {
  const g = ++generation;
  const [nav, page] = route();
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === nav);
  let html;
  try {
    html = await page();
  } catch (err) {
    html = `<p class="error" id="error">${esc(err.message)}</p>`;
  }
  if (g !== generation) return; // a newer render started meanwhile
  app.innerHTML = html;
  document.getElementById("refreshed").textContent = "updated " + new Date().toLocaleTimeString("sv-SE");
}

window.addEventListener("hashchange", render);
render();
setInterval(render, 2000);
