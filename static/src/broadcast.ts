// The guide's broadcast page (phone first): camera preview, go live / end, microphone, camera
// switch, viewers, time left, connection quality, and a screen that stays on while live.
// Publishing: one RTCPeerConnection per attempt; a new one after any network change, so a phone
// moving from Wi-Fi to mobile data keeps broadcasting without a reload.

import { required, text } from "./_dom";
import { RoomCountdown } from "./_live_countdown";
import { DISCONNECTED_GRACE_MS, OutboundMeter, STATS_INTERVAL_MS, iceGatheringComplete, preferVp8 } from "./_live_peer";
import { format, notice, readRoom, readStrings, showLiveBadge, showQuality } from "./_live_room";
import type { Message } from "./_live_signal";
import { Clock, SignalClient } from "./_live_signal";
import { LiveRoom } from "./_room_panel";
import { TipMoments } from "./_room_tips";

type Facing = "user" | "environment";


const root = required<HTMLElement>("#live-room");
const room = readRoom(root);
const strings = readStrings();
const preview = required<HTMLVideoElement>("#live-preview");
const overlay = required<HTMLElement>("#live-overlay");
const goButton = required<HTMLButtonElement>("#live-go");
const endButton = required<HTMLButtonElement>("#live-end");
const switchButton = required<HTMLButtonElement>("#live-switch");
const muteButton = required<HTMLButtonElement>("#live-mute");
const viewers = required<HTMLElement>("#live-viewers");
const bitrate = required<HTMLElement>("#live-bitrate");

const clock = new Clock(room.serverTimeMs);
const countdown = new RoomCountdown(room, () => clock.serverNow(), {
  remaining: required("#live-remaining"),
  warning: required("#live-warning"),
}, strings);

let stream: MediaStream | null = null;
let facing: Facing = "user";
let wantLive = false; // the guide pressed "Go live" and has not ended
let ended = room.status === "ended";
let stopped = false; // a fatal error: nothing more happens on this page
let pc: RTCPeerConnection | null = null;
let videoSender: RTCRtpSender | null = null;
let generation = 0;
let disconnectedTimer: number | undefined;
let meter = new OutboundMeter();
let wakeLock: WakeLockSentinel | null = null;
let liveRoom: LiveRoom | null = null;
// Tips: the guide's acknowledgement and running total, everyone's "thank you" moment.
const tips = TipMoments.mount(required<HTMLElement>(".live__stage"));

const signal = new SignalClient({
  wsPath: room.wsPath,
  tokenUrl: room.tokenUrl,
  pageToken: room.token,
  clock,
  handlers: {
    onOpen(reconnected: boolean) {
      notice("#live-message", "");
      updateButtons();
      // A new socket is a new server-side connection: the old publisher is gone with the old one.
      if (reconnected && wantLive) void publish();
    },
    onDisconnected() {
      notice("#live-message", strings.reconnecting ?? "");
      updateButtons();
      liveRoom?.disconnected();
    },
    onFatal(code: string, message: string) {
      if (ended) return; // the guide ended the tour: the server closing the room is expected
      stopAll(strings[`refused_${code}`] ?? (message || (strings.ended ?? "")));
    },
    onMessage: handleMessage,
  },
});

function handleMessage(message: Message): void {
  switch (message.type) {
    case "welcome": {
      const session = message.session as { status?: string } | undefined;
      if (session?.status === "ended") markEnded();
      else liveRoom?.join();
      break;
    }
    case "publish.answer":
      void applyAnswer(String(message.sdp ?? ""));
      break;
    case "session.state": {
      const state = message.countdown as { remaining_seconds?: number; phase?: string } | undefined;
      // The room's presence count covers every server process; this one only the SFU's own.
      if (liveRoom === null || !liveRoom.hasViewerCount) text(viewers, Number(message.viewers ?? 0));
      if (state !== undefined) countdown.sync(Number(state.remaining_seconds ?? 0), String(state.phase ?? ""));
      if (message.status === "ended") markEnded();
      else showLiveBadge(message.status === "live" && wantLive);
      break;
    }
    case "error":
      if (liveRoom?.handle(message) === true) break;
      // Non-fatal: the socket stays usable. A refused publish is retried by the next network event.
      if (typeof message.message === "string") notice("#live-message", message.message);
      break;
    default:
      if (tips?.handle(message) === true) break;
      liveRoom?.handle(message);
      break;
  }
}

async function startCamera(next: Facing): Promise<MediaStream> {
  const video: MediaTrackConstraints = { facingMode: next, width: { ideal: 1280 }, height: { ideal: 720 } };
  return navigator.mediaDevices.getUserMedia({ video, audio: { echoCancellation: true, noiseSuppression: true } });
}

async function initCamera(): Promise<void> {
  try {
    stream = await startCamera(facing);
  } catch (error) {
    const reason = error instanceof Error ? error.name : String(error);
    notice("#live-error", format(strings, "camera_error", { reason }));
    text(overlay, "");
    overlay.hidden = true;
    return;
  }
  preview.srcObject = stream;
  preview.classList.toggle("live__video--mirror", facing === "user");
  preview.play().catch(() => undefined);
  overlay.hidden = true;
  updateButtons();
}

function updateButtons(): void {
  const ready = stream !== null && !ended && !stopped;
  goButton.disabled = !ready || wantLive || !signal.isOpen;
  goButton.hidden = wantLive;
  endButton.hidden = !wantLive;
  endButton.disabled = stopped || ended;
  switchButton.disabled = !ready;
  muteButton.disabled = !ready;
}

function closePeer(): void {
  window.clearTimeout(disconnectedTimer);
  disconnectedTimer = undefined;
  if (pc !== null) {
    pc.close();
    pc = null;
  }
  videoSender = null;
}

async function publish(): Promise<void> {
  if (!wantLive || stream === null || stopped || ended) return;
  generation += 1;
  const mine = generation;
  closePeer();
  meter = new OutboundMeter();
  const connection = new RTCPeerConnection();
  pc = connection;
  for (const track of stream.getTracks()) {
    const transceiver = connection.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    if (track.kind === "video") {
      preferVp8(transceiver);
      videoSender = transceiver.sender;
    }
  }
  connection.addEventListener("connectionstatechange", () => onConnectionState(connection));
  try {
    await connection.setLocalDescription(await connection.createOffer());
    await iceGatheringComplete(connection);
  } catch {
    if (mine === generation) notice("#live-message", strings.publish_error ?? "");
    return;
  }
  // A newer attempt (another network change) took over while this one was gathering.
  if (mine !== generation || connection.localDescription === null) return;
  if (!signal.send({ type: "publish", sdp: connection.localDescription.sdp })) {
    // The socket is down: onOpen(reconnected) publishes again.
    return;
  }
}

async function applyAnswer(sdp: string): Promise<void> {
  const connection = pc;
  if (connection === null || connection.signalingState !== "have-local-offer" || sdp === "") return;
  try {
    await connection.setRemoteDescription({ type: "answer", sdp });
  } catch {
    notice("#live-message", strings.publish_error ?? "");
  }
}

function onConnectionState(connection: RTCPeerConnection): void {
  if (connection !== pc) return;
  const state = connection.connectionState;
  if (state === "connected") {
    window.clearTimeout(disconnectedTimer);
    disconnectedTimer = undefined;
    notice("#live-message", "");
    showLiveBadge(true);
    return;
  }
  if (state === "failed") {
    republishSoon(0);
  } else if (state === "disconnected") {
    // ICE often recovers by itself from a short drop; a new connection costs the viewers a keyframe.
    republishSoon(DISCONNECTED_GRACE_MS);
  }
}

function republishSoon(delayMs: number): void {
  if (disconnectedTimer !== undefined) return;
  disconnectedTimer = window.setTimeout(() => {
    disconnectedTimer = undefined;
    const state = pc?.connectionState;
    if (wantLive && state !== "connected" && signal.isOpen) void publish();
  }, delayMs);
}

function onNetworkChange(): void {
  if (!wantLive || stopped) return;
  signal.reconnectSoon();
  if (signal.isOpen) void publish();
}

async function switchCamera(): Promise<void> {
  if (stream === null) return;
  const next: Facing = facing === "user" ? "environment" : "user";
  let fresh: MediaStream;
  try {
    fresh = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { exact: next } } });
  } catch {
    try {
      fresh = await navigator.mediaDevices.getUserMedia({ video: { facingMode: next } });
    } catch {
      return; // one camera only: nothing to switch to
    }
  }
  const [newTrack] = fresh.getVideoTracks();
  if (newTrack === undefined) return;
  for (const old of stream.getVideoTracks()) {
    stream.removeTrack(old);
    old.stop();
  }
  stream.addTrack(newTrack);
  facing = next;
  preview.classList.toggle("live__video--mirror", facing === "user");
  // replaceTrack keeps the same connection: the viewers see the other camera without a renegotiation.
  if (videoSender !== null) await videoSender.replaceTrack(newTrack);
}

function toggleMute(): void {
  if (stream === null) return;
  const [audio] = stream.getAudioTracks();
  if (audio === undefined) return;
  audio.enabled = !audio.enabled;
  muteButton.setAttribute("aria-pressed", String(!audio.enabled));
  text(muteButton, audio.enabled ? (strings.mute ?? "") : (strings.unmute ?? ""));
}

async function holdWakeLock(): Promise<void> {
  if (!wantLive || document.visibilityState !== "visible" || wakeLock !== null) return;
  if (!("wakeLock" in navigator)) {
    notice("#live-message", strings.wake_lock_off ?? "");
    return;
  }
  try {
    const lock = await navigator.wakeLock.request("screen");
    wakeLock = lock;
    // The browser drops the lock when the page is hidden; visibilitychange takes it again.
    lock.addEventListener("release", () => {
      if (wakeLock === lock) wakeLock = null;
    });
  } catch {
    wakeLock = null;
  }
}

function releaseWakeLock(): void {
  const lock = wakeLock;
  wakeLock = null;
  if (lock !== null) lock.release().catch(() => undefined);
}

function goLive(): void {
  if (wantLive) return;
  wantLive = true;
  updateButtons();
  void holdWakeLock();
  void publish();
}

function endLive(): void {
  if (!window.confirm(strings.end_confirm ?? "")) return;
  signal.send({ type: "end" });
  markEnded();
}

function markEnded(): void {
  ended = true;
  wantLive = false;
  generation += 1;
  closePeer();
  releaseWakeLock();
  countdown.markEnded();
  showLiveBadge(false);
  showQuality(strings, "offline");
  notice("#live-message", strings.ended ?? "");
  updateButtons();
  endButton.hidden = true;
  liveRoom?.end();
}

function stopAll(message: string): void {
  stopped = true;
  wantLive = false;
  generation += 1;
  closePeer();
  releaseWakeLock();
  showLiveBadge(false);
  showQuality(strings, "offline");
  notice("#live-error", message);
  updateButtons();
  liveRoom?.stop(message);
}

async function sampleStats(): Promise<void> {
  if (pc === null) {
    showQuality(strings, "offline");
    text(bitrate, "");
    return;
  }
  try {
    const sample = await meter.sample(pc);
    showQuality(strings, sample.quality);
    text(bitrate, format(strings, "bitrate", { kbps: sample.bitrateKbps, loss: sample.lossPercent }));
  } catch {
    // The connection closed between two samples.
  }
}

goButton.addEventListener("click", goLive);
endButton.addEventListener("click", endLive);
switchButton.addEventListener("click", () => void switchCamera());
muteButton.addEventListener("click", toggleMute);
window.addEventListener("online", onNetworkChange);
const connection = (navigator as Navigator & { connection?: EventTarget }).connection;
connection?.addEventListener("change", onNetworkChange);
document.addEventListener("visibilitychange", () => void holdWakeLock());
window.setInterval(() => void sampleStats(), STATS_INTERVAL_MS);

liveRoom = LiveRoom.mount({
  sessionId: room.sessionId,
  pageRole: "publisher",
  send: (message) => signal.send(message),
  serverNow: () => clock.serverNow(),
  stage: required<HTMLElement>(".live__stage"),
});
countdown.start();
if (ended) markEnded();
void initCamera();
if (!ended) signal.start();
