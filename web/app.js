// vsnative web UI: camera grid, live view over WHEP (live.js), recordings (timeline playback: timeline.js;
// clips of a day), events. No build step, no framework.
// Everything shown comes from the JSON API; text is set with textContent only (no HTML from data).
import { createLive } from "./live.js";
import { createTimeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
const SNAPSHOT_MS = 5000; // each camera's picture in the grid (one keyframe decode per camera at most)
const pictures = new Map(); // cameraId -> its <img>, kept across the grid's refreshes (no flicker)
let snapshotTick = 0;
let token = sessionStorage.getItem("vsn-token") || "";
let clipsCamera = null;
let eventsCamera = null;
const live = createLive({ $, el, api, withToken });

// --- API --------------------------------------------------------------------------------------------
function withToken(url) {
  if (!token) return url;
  return url + (url.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token);
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    askToken();
    throw new Error("the API token is missing or wrong");
  }
  return response;
}

async function json(path, options) {
  const response = await api(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

function askToken() {
  $("token-form").hidden = false;
  $("token-button").hidden = false;
}

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// --- camera grid --------------------------------------------------------------------------------------
async function refresh() {
  try {
    const [{ cameras }, { agents }] = await Promise.all([json("/api/cameras"), json("/api/agents")]);
    const byCamera = new Map(agents.map((a) => [a.cameraId, a]));
    renderCameras(cameras, byCamera);
    live.update(cameras.map((camera) => ({ camera, agent: byCamera.get(camera.id) })));
    const cluster = await json("/api/cluster").catch(() => null);
    const recording = agents.filter((a) => a.healthy).length;
    const active = cameras.filter((c) => !c.excluded).length;
    let summary = `${recording} of ${active} camera${active === 1 ? "" : "s"} recording`;
    if (cluster && cluster.managers.length > 1) summary += ` · ${cluster.managers.length} servers`;
    if (cluster && cluster.orphanBacklog) summary += ` · ${cluster.orphanBacklog} waiting for a server`;
    $("cluster").textContent = summary;
    showError(null);
  } catch (error) {
    showError(error);
  }
}

function snapshotUrl(cameraId) {
  return withToken(`/api/cameras/${encodeURIComponent(cameraId)}/snapshot.jpg?t=${snapshotTick}`);
}

function picture(camera) {
  let img = pictures.get(camera.id);
  if (!img) {
    img = el("img", { class: "snapshot", alt: `${camera.name || camera.id}: latest picture`, "data-picture": camera.id });
    img.src = snapshotUrl(camera.id);
    pictures.set(camera.id, img);
  }
  img.onclick = () => live.open(camera.id);
  return img;
}

function refreshPictures() {
  snapshotTick += 1;
  for (const [cameraId, img] of pictures) img.src = snapshotUrl(cameraId);
}

function renderCameras(cameras, agents) {
  const grid = $("cameras");
  const listed = new Set(cameras.map((c) => c.id));
  for (const cameraId of pictures.keys()) if (!listed.has(cameraId)) pictures.delete(cameraId);
  const cards = cameras.map((camera) => {
    const agent = agents.get(camera.id);
    const state = camera.state || "none";
    const video = agent && agent.video && agent.video.width ? `${agent.video.codec} ${agent.video.width}x${agent.video.height}` : "";
    // a camera a browser cannot show as it is (H.265, B-frames): the reason stays on its card
    const noLive = agent && agent.liveView && !agent.liveView.available ? agent.liveView.reason : null;
    const excluded = el("input", { type: "checkbox", "aria-label": `exclude ${camera.id}` });
    excluded.checked = camera.excluded;
    excluded.addEventListener("change", () => setExcluded(camera.id, excluded.checked));
    return el("article", { class: "camera", "data-camera": camera.id }, [
      el("div", { class: "title" }, [
        el("span", { text: camera.name || camera.id }),
        el("span", { class: `state ${state}`, text: state === "none" ? "no agent" : state }),
      ]),
      picture(camera),
      el("div", { class: "muted", text: `${camera.id} · ${camera.framerType}${camera.rtspHost ? " · " + camera.rtspHost : ""}` }),
      el("div", { class: "muted", text: `owner: ${camera.owner || "none"}${video ? " · " + video : ""}` }),
      agent && agent.lastError && state !== "running"
        ? el("div", { class: "muted error-text", text: agent.lastError, title: agent.lastErrorDetail || null })
        : null,
      noLive ? el("div", { class: "muted live-unavailable", text: `No live view: ${noLive}` }) : null,
      el("div", { class: "actions" }, [
        el("button", { type: "button", text: "Live", onclick: () => live.open(camera.id), disabled: noLive ? "" : null, title: noLive }),
        el("button", { type: "button", text: "Recordings", onclick: () => openClips(camera) }),
        el("button", { type: "button", text: "Events", onclick: () => loadEvents(camera.id) }),
        el("label", {}, [excluded, " excluded"]),
      ]),
    ]);
  });
  grid.replaceChildren(...cards);
  if (!cameras.length) grid.append(el("p", { class: "muted", text: "No cameras yet: add some to settings/cameras.json or POST /api/cameras." }));
}

async function setExcluded(cameraId, excluded) {
  try {
    if (excluded) await live.forget(cameraId); // its agent is about to stop
    await json(`/api/cameras/${encodeURIComponent(cameraId)}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ excluded }),
    });
    refresh();
  } catch (error) {
    showError(error);
  }
}

// --- recordings ---------------------------------------------------------------------------------------
function today() {
  return new Date().toISOString().slice(0, 10);
}

let timeline = null;

function openClips(camera) {
  clipsCamera = camera;
  $("clips-panel").hidden = false;
  $("clips-name").textContent = camera.name || camera.id;
  if (!$("clips-day").value) $("clips-day").value = today();
  if (!timeline) timeline = createTimeline({ $, el, json, withToken, showError });
  timeline.open(camera);
  loadDay();
  $("clips-panel").scrollIntoView({ behavior: "smooth", block: "start" });
}

async function loadDay() {
  if (!clipsCamera) return;
  const day = $("clips-day").value || today();
  const start = `${day}T00:00:00Z`;
  const end = new Date(Date.parse(start) + 86400000).toISOString();
  try {
    const body = await json(`/api/cameras/${encodeURIComponent(clipsCamera.id)}/clips?start=${start}&end=${end}`);
    const hours = new Map();
    for (const clip of body.clips) {
      const hour = clip.start.slice(11, 13);
      if (!hours.has(hour)) hours.set(hour, []);
      hours.get(hour).push(clip);
    }
    const buttons = [...hours.keys()].sort().map((hour) =>
      el("button", { type: "button", "aria-pressed": "false", text: `${hour}:00 (${hours.get(hour).length})`,
        onclick: (event) => showHour(hours.get(hour), body.gaps.filter((g) => g.start !== body.start), event.target) }));
    $("clips-hours").replaceChildren(...buttons);
    $("clips-list").replaceChildren();
    if (!buttons.length) $("clips-list").append(el("li", { class: "muted", text: "No recordings this day." }));
    else buttons[buttons.length - 1].click();
  } catch (error) {
    showError(error);
  }
}

function showHour(clips, gaps, button) {
  for (const b of $("clips-hours").children) b.setAttribute("aria-pressed", String(b === button));
  const items = [];
  for (const clip of clips) {
    const gap = gaps.find((g) => g.end === clip.start);
    if (gap) items.push(el("li", { class: "gap", text: `gap of ${gap.duration.toFixed(1)} s` }));
    items.push(el("li", {}, [
      el("button", { type: "button", text: clip.start.slice(11, 19), onclick: () => playClip(clip) }),
      el("span", { class: "muted", text: `${clip.duration.toFixed(1)} s · ${(clip.size / 1e6).toFixed(2)} MB` }),
    ]));
  }
  $("clips-list").replaceChildren(...items);
}

function playClip(clip) {
  const video = $("clip-video");
  video.hidden = false;
  video.src = withToken(clip.url);
  video.play().catch(() => {});
  const link = $("clip-download");
  link.hidden = false;
  link.href = withToken(clip.url);
  link.setAttribute("download", `${clipsCamera.id}-${clip.start.replace(/[:]/g, "-")}.mp4`);
}

// --- events ---------------------------------------------------------------------------------------------
const HEALTH_TEXT = {
  camera_offline: "camera offline",
  camera_online: "camera online",
  recording_stalled: "recording stalled",
  recording_resumed: "recording resumed",
  detector_failed: "detector failed",
  storage_low: "storage low",
  retention_forced: "clips deleted for space",
};
const HEALTH_BAD = new Set(["camera_offline", "recording_stalled", "detector_failed", "storage_low", "retention_forced"]);

function eventTime(event) {
  return new Date(event.timestamp * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function eventSpan(event) {  // "in progress", "12 s", "4 min 10 s, stationary"
  if (event.inProgress) return "in progress";
  if (event.duration == null) return "";
  const d = Math.round(event.duration);
  const text = d >= 60 ? `${Math.floor(d / 60)} min ${d % 60} s` : `${d} s`;
  return event.endReason === "stationary" ? `${text}, then stationary` : text;
}

function eventItem(event) {
  if (event.kind && event.kind !== "detection") {  // a camera health event: what happened, no picture
    const bad = HEALTH_BAD.has(event.kind);
    return el("li", { class: `health ${bad ? "health-bad" : "health-good"}`, "data-kind": event.kind }, [
      el("span", { class: "health-mark", text: bad ? "!" : "✓", "aria-hidden": "true" }),
      el("div", {}, [
        el("div", { text: `${HEALTH_TEXT[event.kind] || event.kind}${event.cameraId ? " · " + event.cameraId : ""}` }),
        el("div", { class: "muted", text: event.message || "" }),
        el("div", { class: "muted", text: eventTime(event) }),
      ]),
    ]);
  }
  const zones = event.zones && event.zones.length ? ` · ${event.zones.join(", ")}` : "";
  return el("li", { "data-kind": "detection", "data-in-progress": String(Boolean(event.inProgress)) }, [
    event.snapshotUrl ? el("img", { src: withToken(event.snapshotUrl), alt: `${event.label} snapshot`, loading: "lazy" }) : el("span"),
    el("div", {}, [
      el("div", { text: `${event.label} ${(event.confidence * 100).toFixed(0)}% · ${event.cameraId}${zones}` }),
      el("div", { class: "muted", text: `${eventTime(event)} · ${eventSpan(event)}` }),
      event.inProgress ? el("span", { class: "muted", text: "clip when it ends" }) : el("a", { href: withToken(event.clipUrl), text: "clip" }),
    ]),
  ]);
}

async function loadEvents(cameraId = null) {
  eventsCamera = cameraId;
  $("events-camera").textContent = cameraId ? `for ${cameraId}` : "";
  $("events-all").hidden = !cameraId;
  try {
    const params = new URLSearchParams();
    if (cameraId) params.set("camera", cameraId);
    const kind = $("events-kind").value;
    if (kind) params.set("kind", kind);
    const query = params.toString() ? `?${params}` : "";
    const { events } = await json(`/api/events${query}`);
    const items = events.slice(0, 50).map(eventItem);
    $("events-list").replaceChildren(...items);
    if (!items.length) $("events-list").append(el("li", { class: "muted", text: "No events." }));
  } catch (error) {
    showError(error);
  }
}

// --- wiring ---------------------------------------------------------------------------------------------
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("vsn-token", token);
  $("token-form").hidden = true;
  refresh();
  loadEvents(eventsCamera);
});
$("token-button").addEventListener("click", askToken);
$("clips-close").addEventListener("click", () => {
  $("clips-panel").hidden = true;
  $("clip-video").pause();
  if (timeline) timeline.stop();
});
$("clips-day").addEventListener("change", loadDay);
$("events-all").addEventListener("click", () => loadEvents(null));
$("events-kind").addEventListener("change", () => loadEvents(eventsCamera));

refresh();
loadEvents();
setInterval(refresh, REFRESH_MS);
setInterval(refreshPictures, SNAPSHOT_MS);
setInterval(() => loadEvents(eventsCamera), 5 * REFRESH_MS);
