// Live view in a dialog: one camera large, or a 2x2 / 3x3 multi-view of the cameras, fullscreen on request.
// Each tile that can show its camera live is a WHEP session (the camera's H.264 relayed as it is); a camera
// a browser cannot show live (H.265, B-frames, not running) keeps its latest picture and says why.
// Closing the dialog (button, Escape) ends every session: DELETE on its Location, then the peer connection.

const LAYOUTS = { 1: "one camera", 4: "2 x 2", 9: "3 x 3" };
const ICE_WAIT_MS = 2000; // the relay takes no trickled candidates: they are all sent with the offer
const PICTURE_MS = 5000; // a tile without live video refreshes its camera's picture this often

export function createLive({ $, el, api, withToken }) {
  const dialog = $("live-dialog");
  const grid = $("live-grid");
  let sessions = []; // {cameraId, pc, location, video, status}
  let cameras = []; // [{camera, agent}] in the grid's order, as last shown
  let first = null; // the camera the view was opened on (first tile)
  let layout = 1;
  let pictureTimer = null;
  window.vsnLives = sessions; // for the browser tests and the curious: s.pc.getStats()

  function liveReason(entry) {
    if (!entry.agent) return entry.camera.excluded ? "excluded" : "not running";
    if (entry.agent.liveView && !entry.agent.liveView.available) return entry.agent.liveView.reason;
    if (entry.agent.state !== "running") return entry.agent.lastError || entry.agent.state;
    return null;
  }

  function chosen() {
    const rest = cameras.filter((c) => c.camera.id !== first && !c.camera.excluded);
    const head = cameras.find((c) => c.camera.id === first);
    return [head, ...rest].filter(Boolean).slice(0, layout);
  }

  function iceGatheringDone(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
      setTimeout(resolve, ICE_WAIT_MS);
    });
  }

  async function connect(session) {
    const { pc, cameraId, video, status } = session;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (event) => {
      video.srcObject = event.streams[0] || new MediaStream([event.track]);
    });
    pc.addEventListener("connectionstatechange", () => { status.textContent = pc.connectionState; });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringDone(pc);
      const response = await api(`/api/cameras/${encodeURIComponent(cameraId)}/whep`, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: pc.localDescription.sdp,
      });
      if (response.status !== 201) throw new Error((await response.json()).error || response.statusText);
      session.location = response.headers.get("Location");
      if (session.closed) return hangUp(session); // the dialog closed while the offer was on its way
      await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
    } catch (error) {
      status.textContent = `cannot show this camera: ${error.message || error}`; // stays on its tile
      pc.close();
    }
  }

  async function hangUp(session) {
    session.closed = true;
    session.video.srcObject = null;
    // end the session first: a closed peer connection is noticed by the relay, which forgets the viewer
    if (session.location) await api(session.location, { method: "DELETE" }).catch(() => {});
    session.location = null;
    session.pc.close();
  }

  async function hangUpAll() {
    const ending = sessions.splice(0); // window.vsnLives is this same array
    window.vsnLive = null;
    await Promise.all(ending.map(hangUp));
  }

  function pictureUrl(cameraId) {
    return withToken(`/api/cameras/${encodeURIComponent(cameraId)}/snapshot.jpg?t=${Date.now()}`);
  }

  function tile(entry) {
    const { camera } = entry;
    const name = camera.name || camera.id;
    const reason = liveReason(entry);
    const status = el("span", { class: "muted live-status", text: reason ? `no live view: ${reason}` : "connecting…" });
    const head = el("div", { class: "tile-head" }, [el("span", { text: name }), status]);
    const node = el("figure", { class: "tile", "data-live-camera": camera.id, title: "double-click: this camera alone" });
    node.addEventListener("dblclick", () => open(camera.id, 1));
    if (reason) {
      node.append(el("img", { class: "tile-picture", src: pictureUrl(camera.id), alt: `${name}: latest picture` }), head);
      return node;
    }
    const video = el("video", { autoplay: "", muted: "", playsinline: "" });
    video.muted = true; // the attribute alone does not mute a video made by script (autoplay needs it)
    node.append(video, head);
    const session = { cameraId: camera.id, pc: new RTCPeerConnection({ iceServers: [] }), location: null, video, status };
    sessions.push(session);
    connect(session);
    return node;
  }

  function render() {
    for (const button of dialog.querySelectorAll("[data-layout]")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.layout) === layout));
    }
    const shown = chosen();
    const tiles = shown.map(tile);
    for (let i = shown.length; i < layout; i++) tiles.push(el("figure", { class: "tile empty" }, [el("span", { class: "muted", text: "no camera" })]));
    grid.className = `live-grid n${layout}`;
    grid.replaceChildren(...tiles);
    window.vsnLive = sessions[0] || null;
    $("live-name").textContent = layout === 1 && shown[0] ? shown[0].camera.name || shown[0].camera.id : LAYOUTS[layout];
  }

  function refreshPictures() {
    for (const img of grid.querySelectorAll("img.tile-picture")) {
      img.src = pictureUrl(img.closest("[data-live-camera]").dataset.liveCamera);
    }
  }

  async function open(cameraId, count = layout) {
    await hangUpAll();
    first = cameraId;
    layout = count;
    render();
    if (!dialog.open) dialog.showModal();
    clearInterval(pictureTimer);
    pictureTimer = setInterval(refreshPictures, PICTURE_MS);
  }

  async function close() {
    clearInterval(pictureTimer);
    pictureTimer = null;
    grid.replaceChildren();
    if (dialog.open) dialog.close();
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    await hangUpAll();
  }

  // a camera being excluded: its tile's session ends now (its agent is about to stop)
  async function forget(cameraId) {
    const ending = sessions.filter((s) => s.cameraId === cameraId);
    for (const session of ending) sessions.splice(sessions.indexOf(session), 1);
    await Promise.all(ending.map(hangUp));
  }

  for (const button of dialog.querySelectorAll("[data-layout]")) {
    button.addEventListener("click", () => open(first, Number(button.dataset.layout)));
  }
  $("live-close").addEventListener("click", close);
  dialog.addEventListener("close", () => { if (sessions.length || pictureTimer) close(); }); // Escape
  $("live-fullscreen").addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else $("live-body").requestFullscreen().catch(() => {}); // (a dialog itself may not go fullscreen)
  });
  window.addEventListener("pagehide", () => { hangUpAll(); });

  return {
    open: (cameraId) => open(cameraId, layout),
    close,
    forget,
    update(list) { cameras = list; }, // the grid's cameras and agents, for the multi-view's tiles
    get isOpen() { return dialog.open; },
  };
}
