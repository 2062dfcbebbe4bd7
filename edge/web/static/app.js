// emotion-edge live view: polls api/state twice a second; the picture is an MJPEG <img>.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 500;
  let since = 0;
  let span = 300;
  let points = [];  // [ts, emotion, score, face_id]
  let classes = [];
  let colours = {};
  let serverSkew = 0;  // server clock minus ours, so the plot's "now" is the device's
  // A several-camera device: the camera shown (also in the address, so a link shows the same one).
  let camera = new URLSearchParams(location.search).get("camera") || "";
  const withCamera = (path, sep) => (camera ? `${path}${sep}camera=${encodeURIComponent(camera)}` : path);

  function renderCameras(s) {
    const names = s.cameras || [];
    $("camera-choice").hidden = names.length < 2;
    const select = $("camera");
    if (select.options.length !== names.length || [...select.options].some((o, i) => o.value !== names[i])) {
      select.replaceChildren(...names.map((n) => el("option", { value: n, textContent: n })));
    }
    select.value = s.camera || "";
  }
  $("camera").addEventListener("change", () => {
    camera = $("camera").value;
    history.replaceState(null, "", `?camera=${encodeURIComponent(camera)}`);
    since = 0;
    points = [];
    $("stream").src = withCamera(`stream.mjpg?t=${Date.now()}`, "&");
  });
  if (camera) $("stream").src = withCamera("stream.mjpg", "?");

  function el(tag, props, children) {
    const e = document.createElement(tag);
    if (props) Object.assign(e, props);
    for (const c of children || []) e.append(c);
    return e;
  }
  function swatch(name) {
    const s = el("span", { className: "swatch" });
    s.style.background = colours[name] || "#888";
    return s;
  }
  function fmt(v, digits) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(digits);
  }

  function renderFaces(faces, mainFace) {
    const body = $("faces").tBodies[0];
    body.replaceChildren();
    $("faces").hidden = faces.length === 0;
    $("no-faces").hidden = faces.length !== 0;
    $("face-count").textContent = faces.length ? `(${faces.length})` : "";
    for (const f of faces) {
      const probs = el("div", { className: "probs" });
      for (const name of classes) {
        const p = f.scores[name] || 0;
        const bar = el("div", { className: "bar" }, [el("span")]);
        bar.firstChild.style.width = `${(p * 100).toFixed(1)}%`;
        bar.firstChild.style.background = colours[name] || "#888";
        probs.append(el("span", { textContent: name }), bar, el("span", { textContent: p.toFixed(2) }));
      }
      const id = el("td", { textContent: `#${f.id}${f.id === mainFace ? " (main)" : ""}` });
      const emotion = el("td", {}, [swatch(f.emotion), f.emotion]);
      emotion.className = "emotion";
      body.append(el("tr", {}, [id, emotion, el("td", { textContent: f.score.toFixed(2) }), el("td", {}, [probs])]));
    }
  }

  function renderStats(s) {
    const h = s.health;
    $("health").textContent = h.state;
    $("health").className = `badge ${h.state}`;
    $("reasons").textContent = h.reasons.join("; ");
    const d = s.device;
    $("device").textContent = [d.model, d.backend && `on ${d.backend}`, d.source].filter(Boolean).join(" · ");
    const st = s.stats;
    const rows = [
      ["fps", fmt(st.fps, 1)],
      ["frames", st.frames ?? "–"],
      ["faces / frame", fmt(st.faces_per_frame, 2)],
      ["detections / s", fmt(st.detections_per_s, 1)],
      ["classifications / s", fmt(st.classifications_per_s, 1)],
      ["frames gated", st.frames_gated ?? "–"],
      ["dropped frames", st.dropped_frames ?? "–"],
      ["model", d.model || "–"],
      ["backend", d.backend || "–"],
      ["detector", d.detector || "–"],
      ["stream", `${s.stream.viewers} viewer(s), ≤ ${s.stream.max_fps} fps, ≤ ${s.stream.max_width} px`],
      ["peak RSS", st.peak_rss_mb ? `${Math.round(st.peak_rss_mb)} MB` : "–"],
    ];
    $("figures").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })]));
    const body = $("stages").tBodies[0];
    body.replaceChildren();
    for (const [stage, v] of Object.entries(st.latency_ms || {})) {
      body.append(el("tr", {}, [el("td", { textContent: stage }), el("td", { textContent: fmt(v.p50, 2) }), el("td", { textContent: fmt(v.p99, 2) })]));
    }
  }

  function renderLegend() {
    $("legend").replaceChildren(...classes.map((c) => el("span", {}, [swatch(c), c])));
  }

  function drawTimeline() {
    const canvas = $("timeline");
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const rows = [...classes, "none"];
    const left = 62, top = 4, rowH = (h - top - 16) / rows.length;
    const now = Date.now() / 1000 + serverSkew;
    // Until there is a full span of history, the plot shows what there is (at least a minute).
    const shown = Math.min(span, Math.max(60, points.length ? now - points[0][0] : 60));
    const x = (t) => left + (w - left - 4) * (1 - (now - t) / shown);
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";
    rows.forEach((name, i) => {
      g.fillStyle = "#9aa3ad";
      g.fillText(name, 4, top + rowH * (i + 0.5));
      g.fillStyle = "#1b2026";
      g.fillRect(left, top + rowH * i + rowH - 1, w - left - 4, 1);
    });
    // Runs of the same emotion are drawn as one bar, shaded by their mean score.
    let i = 0;
    while (i < points.length) {
      const [start, emotion] = points[i];
      let j = i, sum = 0, n = 0;
      while (j < points.length && points[j][1] === emotion && (j === i || points[j][0] - points[j - 1][0] <= 2)) {
        if (points[j][2] !== null) { sum += points[j][2]; n++; }
        j++;
      }
      const last = points[j - 1][0];
      const end = j < points.length ? Math.min(points[j][0], last + 2) : Math.min(now, last + 2);
      const row = rows.indexOf(emotion);
      if (row >= 0) {
        g.fillStyle = emotion === "none" ? "#444c56" : colours[emotion] || "#888";
        g.globalAlpha = n ? 0.35 + 0.65 * (sum / n) : 0.6;
        const x0 = Math.max(left, Math.round(x(start))), x1 = Math.max(x0 + 1, Math.round(x(end)));
        g.fillRect(x0, top + rowH * row + 2, x1 - x0, rowH - 4);
      }
      i = j;
    }
    g.globalAlpha = 1;
    g.fillStyle = "#9aa3ad";
    g.textBaseline = "alphabetic";
    $("span").textContent = shown >= 120 ? `${Math.round(shown / 60)} min` : `${Math.round(shown)} s`;
    g.fillText(shown >= 120 ? `-${Math.round(shown / 60)} min` : `-${Math.round(shown)} s`, left, h - 3);
    g.fillText("now", w - 28, h - 3);
  }

  async function poll() {
    try {
      const r = await fetch(withCamera(`api/state?since=${since}`, "&"), { cache: "no-store", credentials: "same-origin" });
      if (r.status === 401 || r.status === 403) {
        $("health").textContent = "not allowed";
        $("health").className = "badge offline";
        $("reasons").textContent = await r.text();
        return;
      }
      const s = await r.json();
      serverSkew = s.now - Date.now() / 1000;
      renderCameras(s);
      if (s.classes.join() !== classes.join()) { classes = s.classes; colours = s.colours; renderLegend(); }
      span = s.timeline.span_s;
      points.push(...s.timeline.points);
      if (points.length) since = points[points.length - 1][0];
      points = points.filter((p) => p[0] > s.now - span - 5);
      renderFaces(s.faces, s.frame && s.frame.main_face);
      renderStats(s);
      drawTimeline();
    } catch (e) {
      $("health").textContent = "offline";
      $("health").className = "badge offline";
      $("reasons").textContent = "the device does not answer";
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  // A stream cut (the device restarted, the network blinked) is retried every few seconds.
  $("stream").addEventListener("error", () => {
    setTimeout(() => { $("stream").src = withCamera(`stream.mjpg?t=${Date.now()}`, "&"); }, 3000);
  });
  window.addEventListener("resize", drawTimeline);
  poll();
})();
