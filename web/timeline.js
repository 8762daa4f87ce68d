// Continuous playback of a camera's recordings over HLS (/api/cameras/{id}/vod.m3u8: the clips as they
// are, by byte range) with a zoomable timeline: recorded spans, gaps, detection and camera health events
// as marks; click to seek, drag to select; 1x-8x; previous/next event; download the selection (or the span
// shown, or the hour around the playhead: exports are at most EXPORT_MAX long). hls.js (vendored, see
// web/VENDORED.md) where the browser has Media Source Extensions, the browser's own HLS otherwise.

const ZOOMS = [600, 3600, 6 * 3600, 24 * 3600, 3 * 86400]; // seconds the timeline shows (1 hour at first)
const EXPORT_MAX = 3600; // the API's export limit (VSN_EXPORT_MAX_SECONDS by default)

export function createTimeline({ $, el, json, withToken, showError }) {
  const video = $("vod-video");
  const bar = $("timeline");
  const state = { camera: null, zoom: 1, end: 0, segments: [], events: [], hls: null, pendingSeek: null, loads: 0, errors: [], recoveries: 0, wantPlay: false, selection: null };

  // --- the playlist's own time map: media time <-> wall clock ----------------------------------------
  function parsePlaylist(text) {
    const segments = [];
    let wall = null;
    let t = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) wall = Date.parse(line.slice(25)) / 1000;
      else if (line.startsWith("#EXTINF:")) {
        const duration = parseFloat(line.slice(8));
        segments.push({ t, wall, duration });
        t += duration;
        if (wall !== null) wall += duration;
      }
    }
    return segments;
  }

  function wallAt(mediaTime) {
    const s = state.segments;
    if (!s.length) return null;
    let lo = 0;
    for (let i = 0; i < s.length; i++) if (s[i].t <= mediaTime) lo = i; else break;
    return s[lo].wall + Math.min(mediaTime - s[lo].t, s[lo].duration);
  }

  function mediaAt(wall) { // in a gap: the next recorded picture
    for (const seg of state.segments) {
      if (wall < seg.wall) return seg.t;
      if (wall < seg.wall + seg.duration) return seg.t + (wall - seg.wall);
    }
    const last = state.segments[state.segments.length - 1];
    return last ? last.t + last.duration - 0.1 : 0;
  }

  function seek(wall) {
    if (!state.segments.length) return;
    const target = mediaAt(wall);
    if (video.readyState >= 1) video.currentTime = target;
    else state.pendingSeek = target;
    draw();
  }

  // --- loading -----------------------------------------------------------------------------------------
  async function open(camera) {
    state.camera = camera;
    state.end = Date.now() / 1000; // newest first: the timeline ends now
    await load();
  }

  function range() {
    const span = ZOOMS[state.zoom];
    return [state.end - span, state.end];
  }

  async function load(seekTo = null) {
    const [start, end] = range();
    const id = encodeURIComponent(state.camera.id);
    const query = `start=${start.toFixed(3)}&end=${end.toFixed(3)}`;
    try {
      const url = withToken(`/api/cameras/${id}/vod.m3u8?${query}`);
      const [playlist, events, health] = await Promise.all([
        fetch(url), // 404: nothing recorded in the range
        json(`/api/events?camera=${id}&kind=detection&limit=1000&${query}`),
        json(`/api/events?camera=${id}&kind=health&limit=1000&${query}`),
      ]);
      // the recorded spans are the playlist's own (3 days are 50,000 clips: no second listing of them)
      state.segments = playlist.ok ? parsePlaylist(await playlist.text()) : [];
      state.spans = merge(state.segments);
      const now = Date.now() / 1000;
      state.events = [...events.events, ...health.events]
        .filter((e) => e.timestamp >= start || (e.end === null ? now : e.end) >= start)
        .sort((a, b) => a.timestamp - b.timestamp);
      attach(state.segments.length ? url : null);
      const last = state.segments[state.segments.length - 1];
      // by default the newest recording: the last minute before the end
      seek(seekTo !== null ? seekTo : last ? Math.max(last.wall + last.duration - 60, state.segments[0].wall) : end);
      state.selection = null;
      exportLink();
      draw();
      state.loads += 1;
    } catch (error) {
      showError(error);
    }
  }

  function attach(url) {
    if (state.hls) { state.hls.destroy(); state.hls = null; }
    state.recoveries = 0;
    video.removeAttribute("src");
    if (!url) { video.load(); return; }
    if (window.Hls && window.Hls.isSupported()) {
      // no worker: the page's content policy allows no blob: scripts
      state.hls = new window.Hls({ enableWorker: false, maxBufferLength: 30, startPosition: -1 });
      state.hls.on(window.Hls.Events.ERROR, (_, data) => {
        const where = data.frag ? ` at segment ${data.frag.sn}` : "";
        const why = data.error ? ` (${data.error.message || data.error})` : "";
        state.errors.push(`${data.type}: ${data.details}${where}${why}${data.fatal ? " fatal" : ""}`);
        if (state.errors.length > 50) state.errors.shift();
        if (!data.fatal) return;
        // hls.js's own recovery for media errors (a SourceBuffer left mid-segment by an aborted append when
        // a seek comes during one: seen as bufferAppendError in about 1 run in 5 of the UI test)
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR && state.recoveries < 5) {
          const resume = state.wantPlay; // recovering re-attaches the media: it comes back paused
          const at = video.currentTime;
          state.recoveries += 1;
          state.hls.recoverMediaError();
          video.currentTime = at;
          if (resume) video.play().catch(() => {});
          return;
        }
        showError(new Error(`playback stopped: ${data.details}`));
      });
      state.hls.loadSource(url);
      state.hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = url;
    } else {
      showError(new Error("this browser can play no HLS"));
    }
  }

  video.addEventListener("play", () => { state.wantPlay = true; });
  video.addEventListener("pause", () => { state.wantPlay = false; });
  video.addEventListener("loadedmetadata", () => {
    if (state.pendingSeek !== null) { video.currentTime = state.pendingSeek; state.pendingSeek = null; }
  });
  video.addEventListener("timeupdate", () => {
    const wall = wallAt(video.currentTime);
    const label = $("vod-time");
    label.textContent = wall ? new Date(wall * 1000).toISOString().replace("T", " ").slice(0, 23) + " UTC" : "";
    label.dataset.wall = wall ? wall.toFixed(3) : "";
    drawHead();
  });

  // --- download: the selection, else the span shown when it is short enough, else the hour around the
  // playhead (the link is set when it is shown and again on click: the playhead moves) -------------------
  function exportRange() {
    const [start, end] = range();
    if (state.selection) return { range: state.selection, what: "selection" };
    if (end - start <= EXPORT_MAX) return { range: [start, end], what: "span" };
    const wall = wallAt(video.currentTime) || end;
    const from = Math.max(start, Math.min(wall - EXPORT_MAX / 2, end - EXPORT_MAX));
    return { range: [from, from + EXPORT_MAX], what: "hour" };
  }

  function minutes(seconds) {
    return seconds >= 90 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds)} s`;
  }

  function exportLink() {
    const link = $("vod-export");
    const { range: [a, b], what } = exportRange();
    const tooLong = b - a > EXPORT_MAX;
    link.hidden = !state.camera;
    link.textContent = what === "selection" ? `Download the selection (${minutes(b - a)})`
      : what === "span" ? "Download this span" : `Download ${minutes(EXPORT_MAX)} around the playhead`;
    if (tooLong) link.textContent = `Select at most ${minutes(EXPORT_MAX)} to download`;
    link.setAttribute("aria-disabled", String(tooLong));
    if (tooLong) { link.removeAttribute("href"); return; }
    const id = encodeURIComponent(state.camera.id);
    link.href = withToken(`/api/cameras/${id}/export.mp4?start=${a.toFixed(3)}&end=${b.toFixed(3)}`);
    link.setAttribute("download", `${state.camera.id}-${new Date(a * 1000).toISOString().replace(/[:]/g, "-")}.mp4`);
  }
  $("vod-export").addEventListener("click", exportLink); // before the browser follows it: the playhead's hour now

  // --- drawing ---------------------------------------------------------------------------------------
  function merge(segments) { // contiguous clips into recorded spans
    const spans = [];
    for (const seg of segments) {
      const last = spans[spans.length - 1];
      const end = seg.wall + seg.duration;
      if (last && seg.wall - last[1] < 0.5) last[1] = end;
      else spans.push([seg.wall, end]);
    }
    return spans;
  }

  function x(wall) {
    const [start, end] = range();
    return ((wall - start) / (end - start)) * 100;
  }

  function placed(node, left, width = null) { // through the CSSOM: the content policy refuses style attributes
    node.style.left = `${left}%`;
    if (width !== null) node.style.width = `${width}%`;
    return node;
  }

  function draw() {
    const items = [];
    for (const [a, b] of state.spans || []) {
      items.push(placed(el("div", { class: "span" }), x(a), Math.max(0.2, x(b) - x(a))));
    }
    for (const event of state.events) {
      const kind = event.kind === "detection" ? "detection" : "health";
      const title = `${event.label || event.kind} ${new Date(event.timestamp * 1000).toISOString()}`;
      const [start] = range(); // an event that began before the span is marked at its left edge
      items.push(placed(el("div", { class: `mark ${kind}`, title, "data-kind": event.kind }), x(Math.max(event.timestamp, start))));
    }
    const [start, end] = range();
    for (let i = 0; i < 4; i++) {
      const at = start + ((end - start) * i) / 4;
      items.push(placed(el("span", { class: "tick", text: new Date(at * 1000).toISOString().slice(5, 16).replace("T", " ") }), i * 25));
    }
    if (state.selection) {
      const [a, b] = state.selection;
      items.push(placed(el("div", { class: "selection", id: "timeline-selection" }), x(a), x(b) - x(a)));
    }
    items.push(el("div", { class: "head", id: "timeline-head" }));
    bar.replaceChildren(...items);
    drawHead();
  }

  function drawHead() {
    const head = document.getElementById("timeline-head");
    const wall = wallAt(video.currentTime);
    if (head && wall) head.style.left = `${x(wall)}%`;
  }

  // a click seeks (and clears the selection); a drag of more than a few pixels selects a span
  function wallOf(clientX) {
    const box = bar.getBoundingClientRect();
    const [start, end] = range();
    return start + (Math.min(Math.max(clientX - box.left, 0), box.width) / box.width) * (end - start);
  }
  let press = null; // {x, wall, dragged}
  bar.addEventListener("pointerdown", (event) => {
    press = { x: event.clientX, wall: wallOf(event.clientX), dragged: false };
    bar.setPointerCapture(event.pointerId);
  });
  bar.addEventListener("pointermove", (event) => {
    if (!press) return;
    if (Math.abs(event.clientX - press.x) > 4) press.dragged = true;
    if (!press.dragged) return;
    const wall = wallOf(event.clientX);
    state.selection = [Math.min(press.wall, wall), Math.max(press.wall, wall)];
    draw();
  });
  bar.addEventListener("pointerup", (event) => {
    if (!press) return;
    const { dragged } = press;
    press = null;
    if (dragged) { exportLink(); return; }
    state.selection = null;
    exportLink();
    seek(wallOf(event.clientX));
    video.play().catch(() => {});
  });

  // --- controls ----------------------------------------------------------------------------------------
  for (const button of document.querySelectorAll("[data-rate]")) {
    button.addEventListener("click", () => {
      video.playbackRate = Number(button.dataset.rate);
      for (const b of document.querySelectorAll("[data-rate]")) b.setAttribute("aria-pressed", String(b === button));
    });
  }
  $("vod-zoom").addEventListener("change", () => {
    const wall = wallAt(video.currentTime);
    state.zoom = Number($("vod-zoom").value);
    if (wall) state.end = Math.min(Date.now() / 1000, wall + ZOOMS[state.zoom] / 2);
    load(wall);
  });
  $("vod-earlier").addEventListener("click", () => { state.end -= ZOOMS[state.zoom] / 2; load(); });
  $("vod-later").addEventListener("click", () => { state.end = Math.min(Date.now() / 1000, state.end + ZOOMS[state.zoom] / 2); load(); });
  function jump(direction) {
    const wall = wallAt(video.currentTime) || range()[1];
    const starts = state.events.map((e) => e.timestamp);
    const next = direction > 0 ? starts.find((t) => t > wall + 0.5) : [...starts].reverse().find((t) => t < wall - 1.5);
    if (next !== undefined) { seek(next - 1); video.play().catch(() => {}); }
  }
  $("vod-prev").addEventListener("click", () => jump(-1));
  $("vod-next").addEventListener("click", () => jump(1));

  // for tests and the console: where playback is on the wall clock, and seeking to a wall-clock time
  window.vsnTimeline = { seek, wallAt, mediaAt, range, selection: () => state.selection, segments: () => state.segments, loads: () => state.loads, errors: () => state.errors, recoveries: () => state.recoveries, video };

  return { open, stop: () => { video.pause(); attach(null); } };
}
