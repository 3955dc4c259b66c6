// The luactor observer's pages: each one renders what its server-sent event
// stream sends (see actors/observe/web.py); nothing here polls.
"use strict";

const view = document.getElementById("view");
const statusLine = document.getElementById("status");
const state = { sort: "mailbox", query: "", source: null, sendForm: null, search: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(headers, rows, attrs = {}) {
  return el("table", attrs,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", typeof h === "string" ? {} : h.attrs, typeof h === "string" ? h : h.label)))),
    el("tbody", {}, rows));
}

function when(ns) { return ns ? new Date(ns / 1e6).toISOString().replace("T", " ").slice(0, 23) : "-"; }
function json(value) { return value === null || value === undefined ? "" : JSON.stringify(value); }
function cut(text, n = 120) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }

async function act(action, body) {
  const response = await fetch(`/api/actions/${action}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) alert(answer.error);
}

// -- the overview ------------------------------------------------------------

function hostsSection(hosts) {
  if (!hosts.length) return null;
  return el("section", { id: "hosts" }, el("h2", {}, "Hosts"),
    table(["host", "processes", "spawned", "failed", "messages", "reductions", "slices", "deepest mailbox"],
      hosts.map((h) => el("tr", { "data-host": h.id }, el("td", {}, h.id), el("td", { class: "n" }, h.alive),
        el("td", { class: "n" }, h.spawned), el("td", { class: "n" }, h.failed), el("td", { class: "n" }, h.delivered),
        el("td", { class: "n" }, h.reductions), el("td", { class: "n" }, h.slices), el("td", { class: "n" }, h.depth_max)))));
}

function servicesSection(services, actions) {
  if (!services.length) return null;
  const depth = {};
  for (const s of services) depth[s.id] = s.supervisor ? (depth[s.supervisor] || 0) + 1 : 0;
  return el("section", { id: "services" }, el("h2", {}, "Supervision tree"),
    table(["service", "state", "attempts", "pid", "last error", "next restart", ""],
      services.map((s) => el("tr", { "data-service": s.id, class: `state-${s.state}` },
        el("td", { style: `padding-left:${0.4 + depth[s.id] * 1.4}em` }, s.kind === "supervisor" ? "▾ " : "• ", s.id),
        el("td", { class: "state" }, s.state), el("td", { class: "n attempts" }, s.attempts),
        el("td", {}, s.pid ? el("a", { href: `/process/${encodeURIComponent(s.pid)}` }, s.pid) : "-"),
        el("td", { class: "error" }, s.last_error ? cut(s.last_error) : ""),
        el("td", { class: "restart" }, s.next_restart ? new Date(s.next_restart * 1000).toLocaleTimeString() : ""),
        el("td", {}, actions && s.kind !== "supervisor"
          ? el("button", { onclick: () => act("restart-service", { id: s.id }) }, "restart") : "")))));
}

function processesSection(processes) {
  const header = (key, label) => ({
    label: label + (state.sort === key ? " ▼" : ""),
    attrs: { class: "sortable", "data-sort": key, onclick: () => { state.sort = key; connect(); } },
  });
  return el("section", { id: "processes" },
    el("h2", {}, `Processes (${processes.total}, by ${processes.sort})`),
    table(["pid", "entry", "status", "function", header("mailbox", "mailbox"), header("reductions", "reductions"),
      header("memory", "memory (est.)")],
    processes.rows.map((p) => el("tr", { "data-pid": p.pid },
      el("td", {}, el("a", { href: `/process/${encodeURIComponent(p.pid)}` }, p.pid)), el("td", {}, p.entry),
      el("td", {}, p.status), el("td", {}, p.function || ""), el("td", { class: "n" }, p.mailbox),
      el("td", { class: "n" }, p.reductions), el("td", { class: "n" }, p.memory)))));
}

function workflowsSection(workflows) {
  const counts = Object.entries(workflows.counts).map(([status, n]) => el("span", { class: `badge status-${status}` }, `${status} ${n}`));
  if (!state.search) {   // one input for the page's life: what is typed survives updates
    state.search = el("input", { id: "search", type: "search", placeholder: "search id, entry, status, input…" });
    state.search.addEventListener("change", () => { state.query = state.search.value; connect(); });
  }
  const search = state.search;
  return el("section", { id: "workflows" }, el("h2", {}, "Workflows"), el("p", {}, counts, " ", search),
    workflows.damaged.map((message) => el("p", { class: "problem damaged" }, "damaged record: ", message)),
    table(["id", "entry", "status", "events", "updated", "host"],
      workflows.matches.map((w) => el("tr", { "data-workflow": w.id },
        el("td", {}, el("a", { href: `/workflow/${encodeURIComponent(w.id)}` }, w.id)), el("td", {}, w.entry),
        el("td", { class: `status-${w.status}` }, w.status), el("td", { class: "n" }, w.events),
        el("td", {}, when(w.updated_ns)), el("td", {}, w.host)))),
    workflows.total > workflows.matches.length ? el("p", {}, `${workflows.matches.length} of ${workflows.total} shown`) : null);
}

/** Show `children` (nulls left out) as the page's content. */
function show(...children) { view.replaceChildren(...children.filter((child) => child !== null && child !== undefined)); }

function renderOverview(data) {
  const actions = document.body.dataset.actions === "true";
  const focused = document.activeElement === state.search;
  show(hostsSection(data.hosts), servicesSection(data.services, actions),
    data.hosts.length ? processesSection(data.processes) : null, workflowsSection(data.workflows));
  if (focused) state.search.focus();
}

// -- one process ---------------------------------------------------------------

function renderProcess(data) {
  const p = data.process;
  if (!p) { show(el("p", { class: "problem" }, "the process has exited")); return; }
  const link = (pid) => el("a", { href: `/process/${encodeURIComponent(pid)}` }, pid);
  const rows = [["pid", p.pid], ["host", p.host], ["entry", `${p.entry} (${p.kind})`], ["status", p.status],
    ["current function", p.function || "-"], ["names", p.names.join(", ") || "-"],
    ["mailbox", `${p.mailbox} queued (inbox ${p.inbox}, events ${p.events})`],
    ["topics", Object.entries(p.topics).map(([t, n]) => `${t}: ${n}`).join(", ") || "-"],
    ["reductions", p.reductions], ["memory (est.)", `${p.memory} bytes`], ["trap links", p.trap_links],
    ["links", p.links.length ? p.links.map(link) : "-"], ["monitored by", p.monitors.length ? p.monitors.map(link) : "-"],
    ["workflow", p.workflow ? el("a", { href: `/workflow/${encodeURIComponent(p.workflow)}` }, p.workflow) : "-"]];
  const actions = document.body.dataset.actions === "true";
  show(el("h2", {}, `Process ${p.pid}`),
    el("table", { class: "details" }, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { "data-field": k }, v)))),
    actions ? el("p", {}, el("button", { onclick: () => act("terminate-process", { pid: p.pid }) }, "terminate")) : null,
    actions ? (state.sendForm = state.sendForm || sendForm(p.pid)) : null);   // kept: what is typed survives updates
}

function sendForm(pid) {
  const topic = el("input", { id: "send-topic", placeholder: "topic" });
  const payload = el("input", { id: "send-payload", placeholder: "payload (JSON)", size: 40 });
  return el("form", { id: "send", onsubmit: (event) => {
    event.preventDefault();
    let value = null;
    try { value = payload.value ? JSON.parse(payload.value) : null; } catch (e) { alert(`payload: ${e.message}`); return; }
    act("send", { dest: pid, topic: topic.value, payload: value });
  } }, "send a message: ", topic, " ", payload, " ", el("button", { type: "submit" }, "send"));
}

// -- one workflow ----------------------------------------------------------------

function eventSummary(event) {
  const rest = Object.entries(event).filter(([k]) => !["seq", "type", "ts"].includes(k));
  return cut(rest.map(([k, v]) => `${k}=${json(v)}`).join(" "), 200);
}

function renderWorkflow(data) {
  const w = data.workflow;
  if (!w) { show(el("p", { class: "problem" }, "the workflow is gone from the store")); return; }
  const h = w.header;
  const outcome = !h ? null : h.error ? el("p", { class: "outcome failed" }, `error: ${h.error.kind}: ${h.error.message}`)
    : h.status === "running" ? el("p", { class: "outcome" }, "running…")
      : el("p", { class: "outcome", id: "result" }, `result: ${json(h.result)}`);
  show(el("h2", {}, `Workflow ${w.id}`),
    h ? el("p", {}, el("span", { class: `badge status-${h.status}`, id: "wf-status" }, h.status),
      ` ${h.entry} on ${w.host}, run ${h.run}, started ${when(h.created_ns)}, input ${json(h.input)}`) : null,
    w.damaged ? el("p", { class: "problem damaged" }, "damaged record: ", w.damaged) : null,
    el("ol", { class: "timeline", id: "timeline" }, w.events.map((e) => el("li", { class: `event type-${e.type}`, "data-type": e.type },
      el("span", { class: "seq" }, e.seq), el("span", { class: "time" }, when(e.ts)),
      el("span", { class: "type" }, e.type), el("span", { class: "summary" }, eventSummary(e))))),
    outcome,
    document.body.dataset.actions === "true" && h && h.status === "running"
      ? el("button", { onclick: () => act("terminate-workflow", { id: w.id }) }, "terminate") : null);
}

// -- the stream --------------------------------------------------------------------

const renderers = { overview: renderOverview, process: renderProcess, workflow: renderWorkflow };

function connect() {
  const render = renderers[view.dataset.view];
  if (!render) return;
  if (state.source) state.source.close();
  let url = view.dataset.stream;
  if (view.dataset.view === "overview") url += `&sort=${encodeURIComponent(state.sort)}&q=${encodeURIComponent(state.query)}`;
  const source = new EventSource(url);
  state.source = source;
  source.onopen = () => { statusLine.textContent = "live"; statusLine.className = "live"; };
  source.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.problem) { statusLine.textContent = data.problem; return; }
    render(data);
  };
  source.addEventListener("stopped", () => {
    source.close();
    statusLine.textContent = "node stopped";
    statusLine.className = "stopped";
    document.body.classList.add("stopped");
  });
  source.onerror = () => {
    if (statusLine.className === "stopped") return;
    source.close();
    statusLine.textContent = "node stopped (connection lost)";
    statusLine.className = "stopped";
  };
}

connect();
