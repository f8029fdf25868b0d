"use strict";
// The dashboard page's client (served as /static/page.js; the CSP allows no inline script).
// Access: the launch URL's ?token= set an HttpOnly cookie when the page loaded; the token is
// then removed from the address bar, and every request (fetch, websocket) rides on the cookie.
// State changes also send the launch's CSRF token from <meta name="csrf-token">.
if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", location.pathname);
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const q = (id) => document.querySelector(`[data-testid="${id}"]`);
const post = (u, body) => fetch(u, {method:"POST", credentials:"same-origin",
                                    headers:{"content-type":"application/json", "x-csrf-token":CSRF},
                                    body: JSON.stringify(body || {})}).then(r => r.json());
const EEG_S = 5, RR_S = 120;
const S = { frames:0, renders:0, fps:0, msgs_per_s:0, latency:[], sessionId:null, subject:null,
            eeg:{t:[], ch:[], data:[]}, rr:{t:[], v:[]}, dirty:false, lastStatus:null, histFor:null };
window.__stats = S;

function fmt(x, d) { return (x === null || x === undefined) ? "-" : Number(x).toFixed(d); }
function mmss(s) { if (s === null || s === undefined) return "-"; s = Math.max(0, Math.round(s));
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }

function appendSignal(sig) {
  if (!sig) return;
  if (sig.eeg) {
    const e = S.eeg;
    if (e.ch.length !== sig.eeg.ch.length) { e.ch = sig.eeg.ch; e.data = e.ch.map(() => []); e.t = []; }
    for (const t of sig.eeg.t) e.t.push(t);
    sig.eeg.data.forEach((row, i) => { for (const v of row) e.data[i].push(v); });
    const tmax = e.t[e.t.length - 1]; let k = 0;
    while (k < e.t.length && e.t[k] < tmax - EEG_S) k++;
    if (k) { e.t.splice(0, k); e.data.forEach(r => r.splice(0, k)); }
    S.dirty = true;
  }
  if (sig.rr) {
    for (let i = 0; i < sig.rr.t.length; i++) { S.rr.t.push(sig.rr.t[i]); S.rr.v.push(sig.rr.rr_ms[i]); }
    const tmax = S.rr.t[S.rr.t.length - 1]; let k = 0;
    while (k < S.rr.t.length && S.rr.t[k] < tmax - RR_S) k++;
    if (k) { S.rr.t.splice(0, k); S.rr.v.splice(0, k); }
    S.dirty = true;
  }
}

function drawEEG() {
  const c = document.getElementById("eeg"), g = c.getContext("2d"), W = c.width, H = c.height;
  g.clearRect(0, 0, W, H);
  const e = S.eeg, n = e.t.length; if (!n) return;
  const t1 = e.t[n - 1], t0 = t1 - EEG_S, lane = H / Math.max(1, e.ch.length), uv = 100;
  g.font = "12px sans-serif";
  e.ch.forEach((name, i) => {
    const row = e.data[i], y0 = lane * (i + 0.5);
    let s = 0, m = 0; for (const v of row) if (v !== null) { s += v; m++; } const mean = m ? s / m : 0;
    g.strokeStyle = "#e5e7eb"; g.beginPath(); g.moveTo(0, y0); g.lineTo(W, y0); g.stroke();
    g.strokeStyle = ["#1d4ed8", "#047857", "#b45309", "#7c3aed"][i % 4]; g.beginPath();
    let pen = false;
    for (let k = 0; k < n; k++) {
      const v = row[k]; if (v === null) { pen = false; continue; }
      const x = (e.t[k] - t0) / EEG_S * W, y = y0 - (v - mean) / uv * (lane / 2);
      if (pen) g.lineTo(x, y); else { g.moveTo(x, y); pen = true; }
    }
    g.stroke(); g.fillStyle = "#111"; g.fillText(name, 4, y0 - lane / 2 + 14);
  });
  g.fillStyle = "#666"; g.fillText(`${fmt(t0, 1)} - ${fmt(t1, 1)} s, +/-${uv} uV per lane`, W - 200, H - 4);
}

function drawHR() {
  const c = document.getElementById("hr"), g = c.getContext("2d"), W = c.width, H = c.height;
  g.clearRect(0, 0, W, H);
  const n = S.rr.t.length; if (!n) return;
  const t1 = S.rr.t[n - 1], t0 = t1 - RR_S, lo = 300, hi = 1500;
  g.strokeStyle = "#dc2626"; g.beginPath();
  for (let k = 0; k < n; k++) {
    const x = (S.rr.t[k] - t0) / RR_S * W, y = H - (S.rr.v[k] - lo) / (hi - lo) * H;
    if (k) g.lineTo(x, y); else g.moveTo(x, y);
  }
  g.stroke(); g.fillStyle = "#666"; g.font = "12px sans-serif";
  g.fillText(`RR ${lo}-${hi} ms; last ${fmt(S.rr.v[n - 1], 0)} ms`, 4, 14);
}

function render() {
  if (S.dirty) { S.dirty = false; drawEEG(); drawHR(); S.renders++; }
  requestAnimationFrame(render);
}
requestAnimationFrame(render);
let lastCount = {renders:0, frames:0, t:performance.now()};
setInterval(() => {
  const now = performance.now(), dt = (now - lastCount.t) / 1000;
  S.fps = (S.renders - lastCount.renders) / dt; S.msgs_per_s = (S.frames - lastCount.frames) / dt;
  lastCount = {renders:S.renders, frames:S.frames, t:now};
  q("fps").textContent = `${fmt(S.fps, 0)} fps`;
}, 1000);

// The status chip: one plain phrase ("recording", "device check", "stopped"), never the same
// word twice ("stopped: stopped", issue 17.9).
const STATE_WORDS = {recording:"recording", device_check:"device check",
                     paused:"paused: signal lost", scoring:"scoring", done:"complete",
                     stopping:"stopping: saving", stopped:"stopped"};
function chipText(f) {
  if (f.status === "idle") return "idle: no session";
  if (f.status === "error") return "error";
  const st = STATE_WORDS[f.state] || f.state;
  if (!st || st === f.status || f.status !== "running") return f.status || "-";
  return st;
}

// Before any session: say what to do instead of dashes everywhere (issue 17.9).
function showIdle() {
  q("phase-name").textContent = "No session running";
  q("phase-instruction").textContent = "Type the participant's pseudonym (e.g. P001) and age " +
    "under Session, confirm screening and consent, and press Start: the device check begins " +
    "at once.";
  for (const ch of ["TP9", "AF7", "AF8", "TP10"]) {
    const t = q("q-" + ch);
    t.classList.remove("good", "bad", "warn");
    t.querySelector("b").textContent = "waiting";
  }
  q("strap-contact").querySelector("b").textContent = "waiting";
  q("time-label").textContent = "time left"; q("time-left").textContent = "-";
  q("index-band").textContent = "after the rest phases";
  q("rx").textContent = "The suggestion appears here once the rest phases are scored.";
}

function setTile(el, v, min) {
  el.classList.remove("good", "bad", "warn");
  el.querySelector("b").textContent = v === null || v === undefined ? "-" : Math.round(v * 100) + "%";
  if (v !== null && v !== undefined) el.classList.add(v >= min ? "good" : "bad");
}

function update(f) {
  S.frames++;
  if (f.server_time) { S.latency.push(Date.now() / 1000 - f.server_time); if (S.latency.length > 200) S.latency.shift(); }
  if (f.session_id !== S.sessionId) { S.sessionId = f.session_id; S.eeg = {t:[], ch:[], data:[]}; S.rr = {t:[], v:[]};
    q("loop-events").innerHTML = ""; }
  q("subject").textContent = f.subject || "-";
  q("session").textContent = f.session_id === null || f.session_id === undefined ? "-" : "#" + f.session_id;
  q("state").textContent = chipText(f);
  if (!f.quality && (f.status === "idle" || !f.session_id)) showIdle();
  q("error").textContent = f.error || "";
  q("stop").disabled = f.status !== "running" || f.state === "stopping";
  if (f.subject && f.subject !== S.subject) { S.subject = f.subject; q("subject-input").value = f.subject; }
  if (f.quality) {
    for (const ch of ["TP9", "AF7", "AF8", "TP10"]) setTile(q("q-" + ch), f.quality[ch], f.quality_min);
    const sc = q("strap-contact"); sc.classList.remove("good", "bad");
    sc.querySelector("b").textContent = f.strap_contact === null ? "n/a" : (f.strap_contact ? "yes" : "NO");
    if (f.strap_contact !== null) sc.classList.add(f.strap_contact ? "good" : "bad");
    const cn = f.connected || {};
    q("conn-headband").textContent = `headband ${f.devices.headband} ${cn.headband ? "connected" : "not connected"}`;
    q("conn-strap").textContent = `strap ${f.devices.strap} ${cn.strap ? "connected" : "not connected"}`;
    const b = f.battery || {};
    q("battery").textContent = "battery " + (Object.keys(b).length ? Object.entries(b).map(([k, v]) => `${k} ${v}%`).join(", ") : "-");
    q("hr").textContent = fmt(f.hr_bpm, 0);
    q("phase-name").textContent = f.phase ? f.phase.name : (f.state || "-");
    q("phase-instruction").textContent = f.phase ? f.phase.instruction : "";
    // a stopped session ended early: say when, not "time left 0:00" (issue 17.9)
    const early = f.state === "stopped" || f.state === "stopping";
    const ended = early || f.state === "done";
    const prog = early ? Math.min(1, (f.t_s || 0) / (f.total_s || 1))
                                       : (f.progress || 0);
    q("progress").style.width = (100 * prog).toFixed(1) + "%";
    q("time-label").textContent = ended ? "session" : "time left";
    q("time-left").textContent = ended ? `ended at ${mmss(f.t_s)} (planned ${mmss(f.total_s)})`
                                       : mmss(f.time_left_s);
    q("t-s").textContent = fmt(f.t_s, 0);
    q("phase-list").textContent = (f.phases || []).map((p, i) => (i === f.phase_index ? "[" + p.name + "]" : p.name)).join(" > ");
    appendSignal(f.signal);
  }
  if (f.loop) for (const e of f.loop.new_events) {
    const li = document.createElement("li"); li.textContent = `${fmt(e.t_s, 0)} s ${e.kind}: ${e.reason}`;
    q("loop-events").prepend(li);
  }
  if (f.safety) q("safety-events").innerHTML = f.safety.map(e => `<li>${fmt(e.t_s, 0)} s <b>${e.kind}</b>: ${e.reason}</li>`).join("");
  const ix = f.index;
  if (ix) {
    q("index-value").textContent = fmt(ix.index, 1);
    q("index-band").textContent = ix.band || (ix.reason || "");
    q("index-confidence").textContent = fmt(ix.confidence, 2);
    q("index-baseline").textContent = ix.baseline || "-";
    const mx = Math.max(0.001, ...ix.contributions.map(c => Math.abs(c[1])));
    q("contributions").innerHTML = ix.contributions.map(c =>
      `<div><span class="b" style="width:${(60 * Math.abs(c[1]) / mx).toFixed(0)}px"></span>${c[0]} ${c[1] >= 0 ? "+" : ""}${fmt(c[1], 2)}</div>`).join("");
    const rx = ix.prescription;
    q("rx").textContent = rx ? `${rx.activity}; intensity ${rx.intensity_pct_hrr ? rx.intensity_pct_hrr.join("-") + " % HRR" : "-"}; ` +
      `HR target ${rx.hr_target_bpm ? rx.hr_target_bpm.join("-") + " bpm" : "-"}; ${rx.duration_min.join("-")} min; ` +
      `music ${rx.music_bpm ? rx.music_bpm.join("-") + " bpm" : "-"} (${rx.rule_id}). ${rx.rationale}` : "no prescription";
  } else {
    q("index-value").textContent = "-"; q("contributions").innerHTML = "";
    q("index-band").textContent = f.status === "running" ? "after the rest phases" : "";
  }
  const rs = f.research, rsec = q("research");
  rsec.hidden = !rs;
  if (rs) {
    q("research-value").textContent = rs.probability === null ? "-" : fmt(rs.probability, 2);
    q("research-class").textContent = rs.probability === null ? (rs.reason || "") : `probability of the UCI training class '${rs.positive_class}'`;
    q("research-detail").textContent = `mean over ${rs.n_epochs} 1-s epochs of eyes-closed EEG; ${rs.model}`;
    q("research-disclaimer").textContent = rs.disclaimer || "";
  }
  if (f.subject && (f.status !== S.lastStatus || S.histFor !== f.subject)) { S.lastStatus = f.status; loadHistory(f.subject); }
}

// Answers may arrive out of order on a loaded machine: only the latest request's answer is
// shown (an older one, e.g. from while the session ran, would stay on screen until the next
// status change).
let histSeq = 0;
function loadHistory(subject) {
  S.histFor = subject;
  const seq = ++histSeq;
  fetch("/api/history?subject=" + encodeURIComponent(subject)).then(r => r.json()).then(h => {
    if (seq !== histSeq) return;
    const rows = (h.sessions || []).map(s => `<tr><td>#${s.id}</td><td>${(s.started_utc || "").slice(0, 16)}</td>` +
      `<td>${s.outcome || s.status}</td><td>${s.index === null ? "-" : Number(s.index).toFixed(0)} ${s.band || ""}</td>` +
      `<td><a href="${s.report_html}" target="_blank" rel="noopener">HTML</a> <a href="${s.report_pdf}" target="_blank" rel="noopener">PDF</a></td></tr>`);
    q("history").querySelector("tbody").innerHTML = rows.join("");
  }).catch(() => {});
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  ws.onmessage = (m) => update(JSON.parse(m.data));
  ws.onclose = () => setTimeout(connect, 1000);
}
connect();
q("stop").onclick = () => post("/api/stop");
q("symptom").onclick = () => post("/api/symptom");
q("mark").onclick = () => post("/api/mark", {label: "staff_mark"});
// Start: this person's pseudonym, age and screening, and (when none is on record) the consent
// staff confirm; the server refuses without consent and records nothing (issue 14). The consent
// box is cleared after every start: it is about one person.
q("start").onclick = () => {
  const age = q("age-input").value.trim();
  post("/api/start", {subject: q("subject-input").value.trim(),
                      age: age === "" ? null : Number(age),
                      screened: q("screened-input").checked,
                      consent_given: q("consent-input").checked})
    .then(r => { q("start-error").textContent = r.detail || ""; if (r.ok) q("consent-input").checked = false; });
};
