// The dashboard's music player (issue 21.4): follows GET /api/music with an HTML5 <audio>.
// A new track (start/switch) sets the element's src to /music/track/<id>; a stretch changes only
// its playbackRate (pitch kept); hold keeps both; "now" = null (off, session end) pauses.
// window.__music mirrors what was applied (the browser tests read it with the element's state).
(function () {
  "use strict";
  const audio = document.getElementById("music-audio");
  const panel = document.querySelector('[data-testid="music"]');
  const label = document.querySelector('[data-testid="music-now"]');
  const enable = document.getElementById("music-enable");
  if (!audio || !panel) return;
  const state = { seq: 0, action: null, track_id: null, rate: 1, polls: 0, errors: 0 };
  window.__music = state;

  function show(now) {
    if (!now) {
      label.textContent = "silent";
      return;
    }
    const stretch = now.stretch_rate !== 1 ? " x" + now.stretch_rate.toFixed(3) : "";
    label.textContent = now.label + " - " + now.played_bpm.toFixed(1) + " bpm (step " +
      now.tempo_bpm + " bpm" + stretch + ", " + now.action + ")";
  }

  function apply(doc) {
    panel.hidden = !doc.enabled;
    const now = doc.now;
    if (!now) {
      if (state.track_id !== null) {
        audio.pause();
        audio.removeAttribute("src");
        audio.load();
        state.track_id = null;
        state.action = "off";
      }
      show(null);
      return;
    }
    if (now.seq === state.seq) return;
    const rate = now.stretch_rate || 1;
    if (now.track_id !== state.track_id) {
      audio.src = "/music/track/" + encodeURIComponent(now.track_id);
      audio.loop = true;
    }
    audio.preservesPitch = true;
    audio.defaultPlaybackRate = rate;
    audio.playbackRate = rate;
    const p = audio.play();
    if (p && p.catch) p.catch(function () { enable.hidden = false; });
    state.seq = now.seq;
    state.action = now.action;
    state.track_id = now.track_id;
    state.rate = rate;
    show(now);
  }

  async function poll() {
    try {
      const r = await fetch("/api/music", { credentials: "same-origin", cache: "no-store" });
      if (r.ok) apply(await r.json());
      state.polls += 1;
    } catch (e) {
      state.errors += 1;
    }
    setTimeout(poll, 500);
  }

  // Browsers start sound only after a user gesture: one click enables the player.
  enable.addEventListener("click", function () {
    enable.hidden = true;
    if (audio.src) audio.play().catch(function () { enable.hidden = false; });
  });
  // The person turns the music off: the closed loop's own input (it stops changing the tempo).
  const off = document.getElementById("music-off");
  const csrf = document.querySelector('meta[name="csrf-token"]');
  if (off) {
    off.addEventListener("click", function () {
      fetch("/api/music", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf ? csrf.content : "" },
        body: JSON.stringify({ action: "off" }),
      }).catch(function () { state.errors += 1; });
    });
  }
  poll();
})();
