// HIPPO inspection page: steps through the queue, one POST per decision (stored at once).
"use strict";
let LABELS = [];  // the server's (/api/config), so the page and the API agree
const HOST_KEYS = "abcdefghi";
const state = { queue: [], index: 0, current: null, label: null, host: null };
const $ = (id) => document.getElementById(id);

async function api(path, options) {
  // The page was opened with ?token=; the server set a cookie, and the header makes it explicit.
  const headers = Object.assign({ "Authorization": "token " + token() }, (options || {}).headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function token() {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) sessionStorage.setItem("hippo_token", fromUrl);
  return sessionStorage.getItem("hippo_token") || "";
}

function setStatus(text, error) { $("status").textContent = text; $("status").className = error ? "error" : ""; }

async function loadQueue() {
  const order = $("random").checked ? "random" : "store";
  state.queue = await api(`/api/sources?queue=${encodeURIComponent($("queue").value)}&order=${order}`);
  state.index = 0;
  await show();
}

async function show() {
  const total = state.queue.length;
  $("position").textContent = total ? `${state.index + 1} / ${total}` : "queue empty";
  if (!total || state.index >= total) {
    $("name").textContent = total ? "end of the queue" : "nothing to inspect in this queue";
    $("images").innerHTML = ""; $("candidates").innerHTML = ""; $("probabilities").innerHTML = "";
    state.current = null;
    return refreshSummary();
  }
  const entry = state.queue[state.index];
  const user = encodeURIComponent($("user").value);
  const s = await api(`/api/source?source=${encodeURIComponent(entry.source)}&user=${user}`);
  state.current = s;
  state.label = s.mine ? s.mine.label : null;
  state.host = s.mine ? s.mine.host : null;
  $("comment").value = s.mine && s.mine.comment ? s.mine.comment : "";
  $("name").textContent = s.source;
  $("coords").textContent = s.ra != null ? `RA ${s.ra.toFixed(5)}°  Dec ${s.dec.toFixed(5)}°  flag: ${s.flag || "–"}` : "";
  $("coords").className = "coords";
  renderImages(s); renderProbabilities(s); renderCandidates(s); renderLabels();
  setStatus(s.mine ? `your decision: ${s.mine.label || "–"} / host ${s.mine.host || "none"}` : "");
  refreshSummary();
}

function renderImages(s) {
  const box = $("images");
  box.innerHTML = "";
  if (!s.cutouts.length) { box.innerHTML = '<div class="empty">no cutouts in the store for this source</div>'; return; }
  const q = `&token=${encodeURIComponent(token())}`;
  const figure = (src, alt, caption, kind) => {
    const fig = document.createElement("figure");
    fig.className = kind;
    const img = document.createElement("img");
    img.src = src; img.alt = alt;
    const cap = document.createElement("figcaption");
    cap.textContent = caption;
    fig.append(img, cap); box.append(fig);
  };
  if (s.overlay) {
    // radio contours on the optical/IR cutout, whole and central half: drawn by hippo.overlays, cached
    const what = `${s.overlay.contours.join(" + ")} contours on ${s.overlay.image}`;
    for (const zoom of [1, 2])
      figure(`/api/overlay?source=${encodeURIComponent(s.source)}&zoom=${zoom}${q}`, `${what} zoom ${zoom}`,
             `${what} · zoom ×${zoom}`, "overlay");
  }
  for (const c of s.cutouts.slice(0, 2)) for (const zoom of s.overlay ? [1] : [1, 2]) {
    const status = c.status && c.status !== "ok" ? " · " + c.status : "";
    figure(`/api/image?cutout=${c.id}&zoom=${zoom}${q}`, `${c.survey} zoom ${zoom}`,
           `${c.survey || "cutout"} · zoom ×${zoom}${status}`, "cutout");
  }
}

function renderProbabilities(s) {
  const rows = Object.entries(s.probabilities).map(([k, p]) =>
    `<tr><td>${k}</td><td>${p.toFixed(2)}</td><td><span class="bar" style="width:${Math.round(p * 120)}px"></span></td></tr>`);
  rows.push(`<tr><td>label</td><td colspan="2">${s.label || "–"} (confidence ${s.confidence != null ? s.confidence.toFixed(2) : "–"})</td></tr>`);
  $("probabilities").innerHTML = rows.join("");
}

function renderCandidates(s) {
  const list = $("candidates");
  list.innerHTML = "";
  const none = document.createElement("li");
  none.innerHTML = "<kbd>0</kbd> no host";
  none.onclick = () => pickHost("none");
  none.className = state.host === "none" ? "chosen" : "";
  s.candidates.slice(0, HOST_KEYS.length).forEach((c, i) => {
    const li = document.createElement("li");
    const rel = c.reliability != null ? ` · rel ${c.reliability.toFixed(2)}` : "";
    li.innerHTML = `<kbd>${HOST_KEYS[i]}</kbd> ${escapeHtml(c.optical_id)} · ${c.separation_arcsec.toFixed(2)}″${rel}`;
    li.className = state.host === c.optical_id ? "chosen" : "";
    li.onclick = () => pickHost(c.optical_id);
    list.append(li);
  });
  list.append(none);
}

function renderLabels() {
  $("labels").innerHTML = "";
  LABELS.forEach((label, i) => {
    const b = document.createElement("button");
    b.innerHTML = `<kbd>${i + 1}</kbd> ${label}`;
    b.className = state.label === label ? "chosen" : "";
    b.onclick = () => { state.label = label; renderLabels(); };
    $("labels").append(b);
  });
}

function pickHost(host) { state.host = host; renderCandidates(state.current); }

function escapeHtml(text) { const d = document.createElement("div"); d.textContent = String(text); return d.innerHTML; }

async function saveAndNext() {
  if (!state.current) return;
  if (!$("user").value.trim()) { setStatus("enter your name first", true); $("user").focus(); return; }
  if (!state.label && !state.host) { setStatus("choose a morphology (1–6) or a host first", true); return; }
  try {
    await api("/api/annotations", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ source: state.current.source, label: state.label, host: state.host,
                             comment: $("comment").value, user: $("user").value.trim() }) });
    localStorage.setItem("hippo_user", $("user").value.trim());
    state.index += 1;
    await show();
    setStatus(`saved ${state.queue[state.index - 1].source}`);
  } catch (e) { setStatus("not saved: " + e.message, true); }
}

async function move(step) { state.index = Math.max(0, Math.min(state.queue.length, state.index + step)); await show(); }

async function refreshSummary() {
  const s = await api("/api/summary");
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
    pickHost(state.current.candidates[HOST_KEYS.indexOf(k)].optical_id);
  else if (k === "/") { $("comment").focus(); }
  else if (k === "Enter" || k === "n") saveAndNext();
  else if (k === "s" || k === "ArrowRight") move(1);
  else if (k === "p" || k === "ArrowLeft") move(-1);
  else return;
  event.preventDefault();
});

$("next").onclick = saveAndNext;
$("skip").onclick = () => move(1);
$("back").onclick = () => move(-1);
$("queue").onchange = loadQueue;
$("random").onchange = loadQueue;

(async () => {
  try {
    token();
    const config = await api("/api/config");
    LABELS = config.labels;
    $("user").value = new URLSearchParams(location.search).get("user") || localStorage.getItem("hippo_user") || config.user || "";
    $("queue").value = new URLSearchParams(location.search).get("queue") || config.queue;
    await loadQueue();
  } catch (e) { setStatus(e.message, true); }
})();
