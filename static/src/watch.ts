// A guest's live page: the guide's video (muted until a tap, as autoplay rules require), full
// screen, time left, connection quality and the measured delay. The SFU offers, we answer; a new
// offer follows every publisher change or reconnect, without reloading the page.

import { required, text } from "./_dom";
import { RoomCountdown } from "./_live_countdown";
import { DISCONNECTED_GRACE_MS, InboundMeter, STATS_INTERVAL_MS, iceGatheringComplete } from "./_live_peer";
import { format, notice, readRoom, readStrings, showLiveBadge, showQuality } from "./_live_room";
import type { Message } from "./_live_signal";
import { Clock, SignalClient } from "./_live_signal";
import { LiveRoom } from "./_room_panel";
import { TipMoments } from "./_room_tips";

const KEYFRAME_WAIT_MS = 2_000;

const root = required<HTMLElement>("#live-room");
const room = readRoom(root);
const strings = readStrings();
const video = required<HTMLVideoElement>("#live-video");
const stage = required<HTMLElement>("#live-stage");
const overlay = required<HTMLElement>("#live-overlay");
const soundButton = required<HTMLButtonElement>("#live-sound");
const fullscreenButton = required<HTMLButtonElement>("#live-fullscreen");
const delay = required<HTMLElement>("#live-delay");
const lowBandwidth = required<HTMLElement>("#live-low-bandwidth");

const clock = new Clock(room.serverTimeMs);
const countdown = new RoomCountdown(
  room,
  () => clock.serverNow(),
  {
    remaining: required("#live-remaining"),
    warning: required("#live-warning"),
    progress: required<HTMLProgressElement>("#live-progress"),
  },
  strings,
);

let pc: RTCPeerConnection | null = null;
let generation = 0;
let finished = false;
let sessionLive = room.status === "live";
let retryTimer: number | undefined;
let keyframeTimer: number | undefined;
let meter = new InboundMeter();
let liveRoom: LiveRoom | null = null;
// Tips: the guide's acknowledgement and running total, everyone's "thank you" moment.
const tips = TipMoments.mount(stage);

const signal = new SignalClient({
  wsPath: room.wsPath,
  tokenUrl: room.tokenUrl,
  pageToken: room.token,
  clock,
  handlers: {
    onOpen() {
      notice("#live-message", "");
    },
    onDisconnected() {
      notice("#live-message", strings.reconnecting ?? "");
      showQuality(strings, "offline");
      liveRoom?.disconnected();
    },
    onFatal(code: string, message: string) {
      // The tour is over (not a removal): the room stays readable and links its transcript.
      if (code === "ended" || code === "session_ended") liveRoom?.end();
      // The server's texts are English; ours are in the guest's language where we know the code.
      finish(strings[`refused_${code}`] ?? (message || (strings.kicked ?? "")), true);
    },
    onMessage: handleMessage,
  },
});

function handleMessage(message: Message): void {
  switch (message.type) {
    case "welcome": {
      const session = message.session as { status?: string } | undefined;
      if (session?.status === "ended") {
        finish(strings.ended ?? "", false);
        return;
      }
      sessionLive = session?.status === "live";
      subscribe();
      liveRoom?.join();
      break;
    }
    case "subscribe.offer":
      void answer(String(message.sdp ?? ""));
      break;
    case "rendition":
      // The SFU moved our video to the session's small stream (weak connection) or back.
      lowBandwidth.hidden = message.rendition !== "low";
      break;
    case "publisher.changed":
      // The guide reconnected (new epoch): the old media path is dead, ask for a new offer.
      subscribe();
      break;
    case "session.state": {
      const state = message.countdown as { remaining_seconds?: number; phase?: string } | undefined;
      if (state !== undefined) countdown.sync(Number(state.remaining_seconds ?? 0), String(state.phase ?? ""));
      if (message.status === "ended") {
        finish(strings.ended ?? "", false);
      } else {
        sessionLive = message.status === "live";
        showLiveBadge(sessionLive);
        if (!sessionLive && video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) text(overlay, strings.waiting ?? "");
      }
      break;
    }
    default:
      if (tips?.handle(message) === true) break;
      liveRoom?.handle(message);
      break;
  }
}

function subscribe(): void {
  if (finished) return;
  signal.send({ type: "subscribe" });
}

function closePeer(): void {
  lowBandwidth.hidden = true; // a new connection starts on the full stream
  window.clearTimeout(retryTimer);
  window.clearTimeout(keyframeTimer);
  retryTimer = undefined;
  if (pc !== null) {
    pc.close();
    pc = null;
  }
}

async function answer(sdp: string): Promise<void> {
  if (finished || sdp === "") return;
  generation += 1;
  const mine = generation;
  closePeer();
  meter = new InboundMeter();
  const connection = new RTCPeerConnection();
  pc = connection;
  const media = new MediaStream();
  connection.addEventListener("track", (event: RTCTrackEvent) => {
    media.addTrack(event.track);
    if (video.srcObject !== media) video.srcObject = media;
    video.play().catch(() => undefined); // muted autoplay is always allowed
  });
  connection.addEventListener("connectionstatechange", () => onConnectionState(connection));
  try {
    await connection.setRemoteDescription({ type: "offer", sdp });
    await connection.setLocalDescription(await connection.createAnswer());
    await iceGatheringComplete(connection);
  } catch {
    if (mine === generation) resubscribeSoon(DISCONNECTED_GRACE_MS);
    return;
  }
  if (mine !== generation || connection.localDescription === null) return;
  signal.send({ type: "subscribe.answer", sdp: connection.localDescription.sdp });
  // Before the guide goes live the offer carries no media yet: keep saying we wait for the guide.
  text(overlay, sessionLive ? (strings.starting ?? "") : (strings.waiting ?? ""));
  // A joining viewer needs a keyframe to start decoding; ask once if none came.
  keyframeTimer = window.setTimeout(() => {
    if (pc === connection && video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) signal.send({ type: "keyframe" });
  }, KEYFRAME_WAIT_MS);
}

function onConnectionState(connection: RTCPeerConnection): void {
  if (connection !== pc) return;
  const state = connection.connectionState;
  if (state === "connected") {
    window.clearTimeout(retryTimer);
    retryTimer = undefined;
  } else if (state === "failed") {
    resubscribeSoon(0);
  } else if (state === "disconnected") {
    resubscribeSoon(DISCONNECTED_GRACE_MS);
  }
}

function resubscribeSoon(delayMs: number): void {
  if (retryTimer !== undefined) return;
  retryTimer = window.setTimeout(() => {
    retryTimer = undefined;
    if (!finished && pc?.connectionState !== "connected") subscribe();
  }, delayMs);
}

function finish(message: string, fatal: boolean): void {
  if (finished && !fatal) return;
  finished = true;
  generation += 1;
  closePeer();
  if (fatal) signal.stop();
  video.srcObject = null;
  overlay.hidden = false;
  text(overlay, message);
  showLiveBadge(false);
  showQuality(strings, "offline");
  text(delay, "—");
  countdown.markEnded();
  notice(fatal ? "#live-error" : "#live-message", message);
  if (fatal) liveRoom?.stop(message);
  else liveRoom?.end();
}

function toggleSound(): void {
  // A click is the user gesture that lets the page play sound.
  video.muted = !video.muted;
  video.play().catch(() => undefined);
  soundButton.setAttribute("aria-pressed", String(!video.muted));
  text(soundButton, video.muted ? (strings.tap_for_sound ?? "") : (strings.sound_on ?? ""));
}

function toggleFullscreen(): void {
  if (document.fullscreenElement !== null) {
    void document.exitFullscreen().catch(() => undefined);
    return;
  }
  if (typeof stage.requestFullscreen === "function") {
    stage.requestFullscreen().catch(() => undefined);
    return;
  }
  // iPhone Safari: only the video element itself can go full screen.
  const iosVideo = video as HTMLVideoElement & { webkitEnterFullscreen?: () => void };
  iosVideo.webkitEnterFullscreen?.();
}

async function sampleStats(): Promise<void> {
  if (pc === null) {
    if (!finished) showQuality(strings, "offline");
    return;
  }
  try {
    const sample = await meter.sample(pc);
    showQuality(strings, sample.quality);
    text(delay, sample.delayMs === null ? "—" : format(strings, "delay", { ms: sample.delayMs }));
  } catch {
    // The connection closed between two samples.
  }
}

video.addEventListener("playing", () => {
  overlay.hidden = true;
});
video.addEventListener("waiting", () => {
  if (!finished && sessionLive) {
    overlay.hidden = false;
    text(overlay, strings.starting ?? "");
  }
});
soundButton.addEventListener("click", toggleSound);
fullscreenButton.addEventListener("click", toggleFullscreen);
window.addEventListener("online", () => signal.reconnectSoon());
window.setInterval(() => void sampleStats(), STATS_INTERVAL_MS);

liveRoom = LiveRoom.mount({
  sessionId: room.sessionId,
  pageRole: "viewer",
  send: (message) => signal.send(message),
  serverNow: () => clock.serverNow(),
  stage,
});
countdown.start();
if (room.status === "ended") finish(strings.ended ?? "", false);
else signal.start();
