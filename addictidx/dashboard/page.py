"""The dashboard page: one HTML document with its CSS, and its vanilla-JS client ``page.js``.

The HTML is kept in a Python string; the script is the package file ``page.js`` (served at
``/static/page.js``), so the Content-Security-Policy can forbid inline script. The page carries
the launch's CSRF token in ``<meta name="csrf-token">`` (the app fills ``__CSRF_TOKEN__``). The
client keeps the last 5 s of EEG and 120 s of RR in arrays, appends each frame's new samples and
redraws two canvases on ``requestAnimationFrame`` when new data came in. ``window.__stats``
counts websocket frames and redraws (the browser tests read the frame rate from it).
"""

from functools import cache
from importlib.resources import files

__all__ = ["PAGE_HTML", "page_script", "start_form_defaults"]


@cache
def page_script() -> bytes:
    """The page's script (``addictidx/dashboard/page.js``), read once."""
    return files("addictidx.dashboard").joinpath("page.js").read_bytes()


def start_form_defaults(page: str, *, age: float | None, screened: bool) -> str:
    """The page with the start form's defaults filled in: the launch's ``--age`` (empty
    without one) and ``--screened``. Staff see both and confirm them at every start; the
    consent box is never pre-ticked."""
    value = "" if age is None else f"{float(age):g}"
    return page.replace("__AGE_DEFAULT__", value).replace(
        "__SCREENED_DEFAULT__", " checked" if screened else ""
    )


PAGE_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>addictidx - live session</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="__CSRF_TOKEN__">
<style>
  :root { --good:#1a7f37; --bad:#c62828; --warn:#b26a00; --muted:#666; --bg:#f6f7f9; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.35 system-ui, sans-serif; background:var(--bg); color:#111; }
  header { display:flex; gap:16px; align-items:center; padding:8px 16px; background:#1f2937; color:#fff; }
  header h1 { font-size:16px; margin:0 12px 0 0; }
  header .pill { padding:2px 8px; border-radius:10px; background:#374151; }
  main { display:grid; grid-template-columns: 2fr 1fr; gap:12px; padding:12px; }
  section { background:#fff; border-radius:8px; padding:10px 12px; box-shadow:0 1px 2px #0002; }
  h2 { font-size:13px; letter-spacing:.02em; color:var(--muted); margin:0 0 8px; }
  .tiles { display:flex; gap:8px; flex-wrap:wrap; }
  .tile { min-width:82px; padding:6px 8px; border-radius:6px; color:#fff; background:#9ca3af; text-align:center; }
  .tile b { display:block; font-size:15px; }
  .good { background:var(--good) !important; } .bad { background:var(--bad) !important; }
  .warn { background:var(--warn) !important; }
  canvas { width:100%; background:#fcfcfd; border:1px solid #e5e7eb; border-radius:4px; }
  .bar { height:14px; background:#e5e7eb; border-radius:7px; overflow:hidden; }
  .bar > div { height:100%; background:#2563eb; width:0; }
  .big { font-size:34px; font-weight:700; }
  #stop { width:100%; padding:22px 10px; font-size:26px; font-weight:800; color:#fff; background:var(--bad);
          border:none; border-radius:10px; cursor:pointer; }
  #stop:disabled { background:#e5a3a3; cursor:default; }
  button.small { padding:6px 10px; }
  ul { margin:4px 0; padding-left:18px; } li { margin:2px 0; }
  table { border-collapse:collapse; width:100%; } td, th { padding:3px 6px; border-bottom:1px solid #eee; text-align:left; }
  .form-checks label { display:block; margin:4px 0; }
  .muted { color:var(--muted); } .note { font-size:12px; color:var(--muted); }
  .research { border:2px dashed #8a6d3b; background:#fbf7ee; }
  .research .tag { background:#8a6d3b; color:#fff; padding:1px 6px; border-radius:4px; }
  .contrib span.b { display:inline-block; height:8px; background:#6b7280; vertical-align:middle; margin-right:6px; }
</style>
</head>
<body>
<header>
  <h1>addictidx live session</h1>
  <span>subject <b data-testid="subject">-</b></span>
  <span>session <b data-testid="session">-</b></span>
  <span class="pill" data-testid="state">idle: no session</span>
  <span data-testid="conn-headband" class="pill">headband -</span>
  <span data-testid="conn-strap" class="pill">strap -</span>
  <span data-testid="battery" class="pill">battery -</span>
  <span class="muted" data-testid="fps">- fps</span>
</header>
<main>
 <div style="display:grid; gap:12px">
  <section>
    <h2>Signal quality</h2>
    <div class="tiles">
      <div class="tile" data-testid="q-TP9">TP9<b>-</b></div>
      <div class="tile" data-testid="q-AF7">AF7<b>-</b></div>
      <div class="tile" data-testid="q-AF8">AF8<b>-</b></div>
      <div class="tile" data-testid="q-TP10">TP10<b>-</b></div>
      <div class="tile" data-testid="strap-contact">strap contact<b>-</b></div>
    </div>
    <div class="note">EEG tiles: share of 2-s epochs passing the checks (&ge; 50 % needed).</div>
  </section>
  <section>
    <h2>EEG (last 5 s, &micro;V)</h2>
    <canvas id="eeg" width="900" height="260"></canvas>
  </section>
  <section>
    <h2>Heart: HR <span data-testid="hr" class="big">-</span> bpm (from RR); RR tachogram, last 120 s</h2>
    <canvas id="hr" width="900" height="140"></canvas>
  </section>
  <section>
    <h2>Phase</h2>
    <div><b data-testid="phase-name">No session running</b> <span class="muted" data-testid="phase-instruction">Type the participant's pseudonym (e.g. P001) and age under Session, confirm screening and consent, and press Start: the device check begins at once.</span></div>
    <div class="bar" style="margin:6px 0"><div data-testid="progress"></div></div>
    <div><span data-testid="time-label">time left</span> <b data-testid="time-left">-</b> &middot; session time <span data-testid="t-s">-</span> s
      &middot; <span data-testid="phase-list" class="muted"></span></div>
  </section>
 </div>
 <div style="display:grid; gap:12px; align-content:start">
  <section>
    <button id="stop" data-testid="stop" disabled>STOP</button>
    <div style="margin-top:6px; display:flex; gap:6px">
      <button class="small" data-testid="symptom" id="symptom">Symptom reported</button>
      <button class="small" data-testid="mark" id="mark">Mark event</button>
    </div>
    <div class="note">STOP ends the session at once (safety stop S6). A symptom stops the exercise.</div>
  </section>
  <section>
    <h2>Index</h2>
    <div><span class="big" data-testid="index-value">-</span> <b data-testid="index-band"></b></div>
    <div>confidence <span data-testid="index-confidence">-</span>; baseline <span data-testid="index-baseline">-</span></div>
    <div data-testid="contributions" class="contrib"></div>
    <div class="note">Decision support for rehabilitation staff; not a diagnosis, not for discipline or release decisions.</div>
  </section>
  <section class="research" data-testid="research" hidden>
    <h2><span class="tag">research</span> Research classifier &ndash; not part of the index</h2>
    <div><span class="big" data-testid="research-value">-</span> <span data-testid="research-class"></span></div>
    <div class="note" data-testid="research-detail"></div>
    <div class="note" style="color:var(--bad)" data-testid="research-disclaimer"></div>
  </section>
  <section>
    <h2>Prescription and closed loop</h2>
    <div data-testid="rx" class="muted">after scoring</div>
    <ul data-testid="loop-events"></ul>
    <h2 style="margin-top:8px">Safety events</h2>
    <ul data-testid="safety-events"></ul>
  </section>
  <section data-testid="music" hidden>
    <h2>Music (iso principle, follows the closed loop)</h2>
    <div data-testid="music-now" class="muted">silent</div>
    <audio id="music-audio" data-testid="music-audio" controls preload="auto" style="width:100%"></audio>
    <button class="small" id="music-enable" data-testid="music-enable">Enable sound</button>
    <button class="small" id="music-off" data-testid="music-off">Music off (the person asks)</button>
  </section>
  <section>
    <h2>Session</h2>
    <div style="display:flex; gap:6px; flex-wrap:wrap; align-items:center">
      <input id="subject-input" data-testid="subject-input" placeholder="pseudonym, e.g. P001" size="16">
      <label>age <input id="age-input" data-testid="age-input" type="number" min="18" max="90" step="1" size="4" required value="__AGE_DEFAULT__"> years</label>
      <button class="small" id="start" data-testid="start">Start</button>
    </div>
    <div class="form-checks">
      <label><input type="checkbox" id="screened-input" data-testid="screened-input"__SCREENED_DEFAULT__> medical screening done (staff confirm); unticked: light intensity only</label>
      <label><input type="checkbox" id="consent-input" data-testid="consent-input"> staff confirm the person gave (signed) assessment consent; it is recorded and audited now, dated today</label>
    </div>
    <div class="note">Age and screening are this person's: check them at every start. Without consent on record (or ticked above) nothing is recorded; a withdrawal on record is never overridden here.</div>
    <div data-testid="start-error" style="color:var(--bad)"></div>
    <div data-testid="error" style="color:var(--bad)"></div>
    <h2 style="margin-top:8px">History and reports</h2>
    <table data-testid="history"><tbody></tbody></table>
  </section>
 </div>
</main>
<script src="/static/page.js"></script>
<script src="/static/music.js"></script>
</body>
</html>
"""
