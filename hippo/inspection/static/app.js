// HIPPO inspection page: steps through the queue, one POST per decision (stored at once).
// Everything from the store reaches the page as text: elements are built with el(), never from HTML
// strings. URLs are relative, so the page works under a prefix (Jupyter's /proxy/<port>/).
"use strict";
let LABELS = [];  // the server's (/api/config), so the page and the API agree
const HOST_KEYS = "abcdefghi";
// undo: this tab's decisions ({id, source, user, label, host}), the latest last, for "u" to take back
const state = { queue: [], index: 0, current: null, label: null, host: null, undo: [] };
const $ = (id) => document.getElementById(id);

// An element with properties (className, onclick, ...) and children: nodes, or strings as text nodes.
function el(tag, props, ...children) {
  const node = Object.assign(document.createElement(tag), props || {});
  node.append(...children.map((child) => (child instanceof Node ? child : String(child))));
  return node;
}

// A number from the store, as text; the store is SQLite, so a column may hold anything.
const fixed = (value, digits) => (typeof value === "number" ? value.toFixed(digits) : "–");

async function api(path, options) {
  // The token goes in the header: the page's cookie is not the token and opens only static files.
  const headers = Object.assign({ "Authorization": "token " + token() }, (options || {}).headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  const body = await response.json();
  if (!response.ok) throw Object.assign(new Error(body.error || response.statusText), { status: response.status });
  return body;
}

function token() {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) sessionStorage.setItem("hippo_token", fromUrl);
  return sessionStorage.getItem("hippo_token") || "";
}

function setStatus(text, error) { $("status").textContent = text; $("status").className = error ? "error" : ""; }

const labelKeys = () => `1–${LABELS.length}`;

function randomSeed() {
  // one seed per tab: a reload keeps the random order, and with it the annotator's place
  if (!sessionStorage.getItem("hippo_seed")) sessionStorage.setItem("hippo_seed", String(Math.floor(Math.random() * 1e9)));
  return sessionStorage.getItem("hippo_seed");
}

async function loadQueue() {
  const params = new URLSearchParams({ queue: $("queue").value, order: $("random").checked ? "random" : "store" });
  if ($("random").checked) params.set("seed", randomSeed());
  if ($("undecided").checked && $("user").value.trim()) params.set("undecided_by", $("user").value.trim());
  state.queue = await api(`api/sources?${params}`);
  state.index = 0;
  await show();
}

async function show() {
  const total = state.queue.length;
  $("position").textContent = !total ? "queue empty" : state.index < total ? `${state.index + 1} / ${total}` : `end · ${total} / ${total}`;
  if (!total || state.index >= total) {
    $("name").textContent = total ? "end of the queue" : "nothing to inspect in this queue";
    $("coords").textContent = "";
    for (const id of ["images", "candidates", "probabilities"]) $(id).replaceChildren();
    state.current = null;
    return refreshSummary();
  }
  const entry = state.queue[state.index];
  const user = encodeURIComponent($("user").value);
  const s = await api(`api/source?source=${encodeURIComponent(entry.source)}&user=${user}`);
  state.current = s;
  state.label = s.mine ? s.mine.label : null;
  state.host = s.mine ? s.mine.host : null;
  $("comment").value = s.mine && s.mine.comment ? s.mine.comment : "";
  $("name").textContent = s.source;
  const xmatch = s.xmatch_flag ? ` · cross-match: ${s.xmatch_flag}` : "";
  $("coords").textContent = `RA ${fixed(s.ra, 5)}°  Dec ${fixed(s.dec, 5)}°  flag: ${s.flag || "–"}${xmatch}`;
  $("coords").className = "coords";
  renderImages(s); renderProbabilities(s); renderCandidates(s); renderLabels();
  setStatus(s.mine ? `your decision: ${s.mine.label || "–"} / host ${s.mine.host || "none"}` : "");
  refreshSummary();
}

function renderImages(s) {
  const box = $("images");
  box.replaceChildren();
  if (!s.cutouts.length) { box.append(el("div", { className: "empty" }, "no cutouts in the store for this source")); return; }
  const q = `&token=${encodeURIComponent(token())}`;
  const figure = (src, alt, caption, kind) =>
    box.append(el("figure", { className: kind }, el("img", { src, alt }), el("figcaption", {}, caption)));
  if (s.overlay) {
    // radio contours on the optical/IR cutout, whole and central half: drawn by hippo.overlays, cached
    const what = `${s.overlay.contours.join(" + ")} contours on ${s.overlay.image}`;
    for (const zoom of [1, 2])
      figure(`api/overlay?source=${encodeURIComponent(s.source)}&zoom=${zoom}${q}`, `${what} zoom ${zoom}`,
             `${what} · zoom ×${zoom}`, "overlay");
  }
  for (const c of s.cutouts.slice(0, 2)) {
    if (c.missing) { box.append(el("div", { className: "empty" }, `${c.survey || "cutout"}: ${c.missing}`)); continue; }
    for (const zoom of s.overlay ? [1] : [1, 2]) {
      const status = c.status && c.status !== "ok" ? " · " + c.status : "";
      figure(`api/image?cutout=${encodeURIComponent(c.id)}&zoom=${zoom}${q}`, `${c.survey} zoom ${zoom}`,
             `${c.survey || "cutout"} · zoom ×${zoom}${status}`, "cutout");
    }
  }
}

function renderProbabilities(s) {
  const rows = Object.entries(s.probabilities).map(([name, p]) => {
    const bar = el("span", { className: "bar" });
    bar.style.width = `${typeof p === "number" ? Math.round(p * 120) : 0}px`;
    return el("tr", {}, el("td", {}, name), el("td", {}, fixed(p, 2)), el("td", {}, bar));
  });
  rows.push(el("tr", {}, el("td", {}, "label"),
                el("td", { colSpan: 2 }, `${s.label || "–"} (confidence ${fixed(s.confidence, 2)})`)));
  $("probabilities").replaceChildren(...rows);
}

function renderCandidates(s) {
  const items = s.candidates.slice(0, HOST_KEYS.length).map((c, i) => {
    const rel = typeof c.reliability === "number" ? ` · rel ${fixed(c.reliability, 2)}` : "";
    const host = String(c.optical_id);
    return el("li", { className: state.host === host ? "chosen" : "", onclick: () => pickHost(host) },
              el("kbd", {}, HOST_KEYS[i]), ` ${host} · ${fixed(c.separation_arcsec, 2)}″${rel}`);
  });
  items.push(el("li", { className: state.host === "none" ? "chosen" : "", onclick: () => pickHost("none") },
                el("kbd", {}, "0"), " no host"));
  $("candidates").replaceChildren(...items);
}

function renderLabels() {
  $("labels").replaceChildren(...LABELS.map((label, i) =>
    el("button", { className: state.label === label ? "chosen" : "", onclick: () => { state.label = label; renderLabels(); } },
       el("kbd", {}, i + 1), ` ${label}`)));
}

function pickHost(host) { state.host = host; renderCandidates(state.current); }

async function saveAndNext() {
  if (!state.current) return;
  if (!$("user").value.trim()) { setStatus("enter your name first", true); $("user").focus(); return; }
  if (!state.label && !state.host) { setStatus(`choose a morphology (${labelKeys()}) or a host first`, true); return; }
  try {
    const saved = await api("api/annotations", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ source: state.current.source, label: state.label, host: state.host,
                             comment: $("comment").value, user: $("user").value.trim() }) });
    state.undo.push(saved);
    $("undo").disabled = false;
    localStorage.setItem("hippo_user", $("user").value.trim());
    state.index += 1;
    await show();
    setStatus(`saved ${saved.source} (u undoes)`);
  } catch (e) { setStatus("not saved: " + e.message, true); }
}

// Take back the latest decision of this tab (the store keeps it, marked retracted) and return to its source.
async function undo() {
  const last = state.undo[state.undo.length - 1];
  if (!last) { setStatus("nothing to undo: no decision saved from this page yet", true); return; }
  try {
    await api(`api/annotations/${encodeURIComponent(last.id)}/retract`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: last.user }) });
  } catch (e) {
    // 4xx: undone already, or decided again since (another tab); nothing left to undo. Else try again later.
    if (e.status >= 400 && e.status < 500) state.undo.pop();
    $("undo").disabled = !state.undo.length;
    setStatus("not undone: " + e.message, true);
    return;
  }
  state.undo.pop();
  $("undo").disabled = !state.undo.length;
  let at = state.queue.findIndex((entry) => entry.source === last.source);
  if (at < 0) { at = Math.min(state.index, state.queue.length); state.queue.splice(at, 0, { source: last.source }); }
  state.index = at;
  await show();
  setStatus(`undone: ${last.label || "–"} / host ${last.host || "none"} on ${last.source}`);
}

async function move(step) { state.index = Math.max(0, Math.min(state.queue.length, state.index + step)); await show(); }

async function refreshSummary() {
  const s = await api("api/summary");
  const agree = s.label_agreement == null ? "–" : Math.round(100 * s.label_agreement) + "%";
  $("summary").textContent = `${s.sources} annotated · ${s.users.length} users · label agreement ${agree} (${s.multiply_annotated} shared)`;
}

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
  if (typing) { if (event.key === "Escape") document.activeElement.blur(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const k = event.key;
  if (k >= "1" && k <= String(LABELS.length)) { state.label = LABELS[Number(k) - 1]; renderLabels(); }
  else if (k === "0") pickHost("none");
  else if (HOST_KEYS.includes(k) && state.current && HOST_KEYS.indexOf(k) < state.current.candidates.length)
    pickHost(String(state.current.candidates[HOST_KEYS.indexOf(k)].optical_id));
  else if (k === "/") { $("comment").focus(); }
  else if (k === "Enter" || k === "n") saveAndNext();
  else if (k === "s" || k === "ArrowRight") move(1);
  else if (k === "p" || k === "ArrowLeft") move(-1);
  else if (k === "u") undo();
  else return;
  event.preventDefault();
});

$("next").onclick = saveAndNext;
$("skip").onclick = () => move(1);
$("back").onclick = () => move(-1);
$("undo").onclick = undo;
$("queue").onchange = loadQueue;
$("random").onchange = loadQueue;
$("undecided").onchange = loadQueue;
$("user").onchange = () => { if ($("undecided").checked) loadQueue(); };

(async () => {
  try {
    token();
    const config = await api("api/config");
    LABELS = config.labels;
    for (const node of document.querySelectorAll(".label-keys")) node.textContent = labelKeys();
    const params = new URLSearchParams(location.search);
    $("user").value = params.get("user") || localStorage.getItem("hippo_user") || config.user || "";
    $("queue").value = params.get("queue") || config.queue;
    await loadQueue();
  } catch (e) { setStatus(e.message, true); }
})();
