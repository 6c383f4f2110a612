// WebRTC helpers for both pages. The SFU takes no trickled candidates: every offer/answer is sent
// only after ICE gathering completed, with all candidates inside the SDP.

import type { Quality } from "./_live_room";

const ICE_GATHERING_TIMEOUT_MS = 5_000;

/** Resolves when gathering is complete (or after a timeout, with whatever was gathered). */
/** How long a "disconnected" peer connection may stay so before the page builds a new one. */
export const DISCONNECTED_GRACE_MS = 3_000;
/** How often both live pages sample getStats() for the quality and delay figures. */
export const STATS_INTERVAL_MS = 2_000;

export function iceGatheringComplete(pc: RTCPeerConnection, timeoutMs = ICE_GATHERING_TIMEOUT_MS): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      window.clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const check = (): void => {
      if (pc.iceGatheringState === "complete") done();
    };
    // A null candidate also marks the end of gathering (some browsers fire it before the state).
    const onCandidate = (event: RTCPeerConnectionIceEvent): void => {
      if (event.candidate === null) done();
    };
    const timer = window.setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

/** Puts VP8 first where the browser lets us choose (the SFU forwards VP8 without re-encoding). */
export function preferVp8(transceiver: RTCRtpTransceiver): void {
  if (typeof transceiver.setCodecPreferences !== "function" || typeof RTCRtpSender.getCapabilities !== "function") {
    return;
  }
  const capabilities = RTCRtpSender.getCapabilities("video");
  if (capabilities === null) return;
  const vp8 = capabilities.codecs.filter((codec) => codec.mimeType.toLowerCase() === "video/vp8");
  if (vp8.length === 0) return;
  const others = capabilities.codecs.filter((codec) => codec.mimeType.toLowerCase() !== "video/vp8");
  try {
    transceiver.setCodecPreferences([...vp8, ...others]);
  } catch {
    // Some browsers reject the list (e.g. rtx without its codec): the default order still works.
  }
}

export interface OutboundSample {
  bitrateKbps: number;
  lossPercent: number;
  quality: Quality;
}

export interface InboundSample {
  delayMs: number | null;
  lossPercent: number;
  framesDecoded: number;
  quality: Quality;
}

function qualityFrom(pc: RTCPeerConnection, lossPercent: number, roundTripMs: number | null): Quality {
  if (pc.connectionState !== "connected") return pc.connectionState === "connecting" || pc.connectionState === "new" ? "fair" : "offline";
  if (lossPercent > 8 || (roundTripMs !== null && roundTripMs > 600)) return "poor";
  if (lossPercent > 2 || (roundTripMs !== null && roundTripMs > 250)) return "fair";
  return "good";
}

type StatsRecord = Record<string, unknown> & { id: string; type: string; timestamp: number };

function numberOf(record: StatsRecord | undefined, key: string): number | null {
  if (record === undefined) return null;
  const value = record[key];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function selectedPair(stats: RTCStatsReport): StatsRecord | undefined {
  let found: StatsRecord | undefined;
  stats.forEach((value: StatsRecord) => {
    if (value.type === "transport" && typeof value.selectedCandidatePairId === "string") {
      found = stats.get(value.selectedCandidatePairId) as StatsRecord | undefined;
    }
  });
  if (found !== undefined) return found;
  stats.forEach((value: StatsRecord) => {
    if (value.type === "candidate-pair" && value.state === "succeeded" && value.nominated === true) found = value;
  });
  return found;
}

/** Samples the publisher's outbound video: bitrate since the last sample and packet loss seen by the SFU. */
export class OutboundMeter {
  private lastBytes: number | null = null;
  private lastTimestamp: number | null = null;

  async sample(pc: RTCPeerConnection): Promise<OutboundSample> {
    const stats = await pc.getStats();
    let bytes = 0;
    let timestamp = 0;
    let lost = 0;
    let sent = 0;
    stats.forEach((value: StatsRecord) => {
      if (value.type === "outbound-rtp" && value.kind === "video") {
        bytes += numberOf(value, "bytesSent") ?? 0;
        sent += numberOf(value, "packetsSent") ?? 0;
        timestamp = value.timestamp;
      }
      if (value.type === "remote-inbound-rtp" && value.kind === "video") lost += numberOf(value, "packetsLost") ?? 0;
    });
    let bitrateKbps = 0;
    if (this.lastBytes !== null && this.lastTimestamp !== null && timestamp > this.lastTimestamp) {
      bitrateKbps = ((bytes - this.lastBytes) * 8) / (timestamp - this.lastTimestamp);
    }
    this.lastBytes = bytes;
    this.lastTimestamp = timestamp;
    const lossPercent = sent + lost > 0 ? (lost / (sent + lost)) * 100 : 0;
    const pair = selectedPair(stats);
    const roundTrip = numberOf(pair, "currentRoundTripTime");
    return {
      bitrateKbps: Math.max(0, Math.round(bitrateKbps)),
      lossPercent: Math.round(lossPercent * 10) / 10,
      quality: qualityFrom(pc, lossPercent, roundTrip === null ? null : roundTrip * 1000),
    };
  }
}

/**
 * Samples a viewer's inbound video. The delay estimate is the jitter buffer's average hold time
 * (jitterBufferDelay / jitterBufferEmittedCount, over the last interval) plus half the round trip
 * of the selected candidate pair: the part of the glass-to-glass delay the browser can see.
 */
export class InboundMeter {
  private lastDelay: number | null = null;
  private lastEmitted: number | null = null;
  private lastLost = 0;
  private lastReceived = 0;

  async sample(pc: RTCPeerConnection): Promise<InboundSample> {
    const stats = await pc.getStats();
    let video: StatsRecord | undefined;
    stats.forEach((value: StatsRecord) => {
      if (value.type === "inbound-rtp" && value.kind === "video") video = value;
    });
    const bufferDelay = numberOf(video, "jitterBufferDelay");
    const emitted = numberOf(video, "jitterBufferEmittedCount");
    let bufferMs: number | null = null;
    if (bufferDelay !== null && emitted !== null && emitted > 0) {
      if (this.lastDelay !== null && this.lastEmitted !== null && emitted > this.lastEmitted) {
        bufferMs = ((bufferDelay - this.lastDelay) / (emitted - this.lastEmitted)) * 1000;
      } else {
        bufferMs = (bufferDelay / emitted) * 1000;
      }
      this.lastDelay = bufferDelay;
      this.lastEmitted = emitted;
    }
    const pair = selectedPair(stats);
    const roundTrip = numberOf(pair, "currentRoundTripTime");
    const lost = numberOf(video, "packetsLost") ?? 0;
    const received = numberOf(video, "packetsReceived") ?? 0;
    const newLost = Math.max(0, lost - this.lastLost);
    const newReceived = Math.max(0, received - this.lastReceived);
    this.lastLost = lost;
    this.lastReceived = received;
    const lossPercent = newLost + newReceived > 0 ? (newLost / (newLost + newReceived)) * 100 : 0;
    const delayMs = bufferMs === null ? null : Math.round(bufferMs + (roundTrip ?? 0) * 500);
    return {
      delayMs,
      lossPercent,
      framesDecoded: numberOf(video, "framesDecoded") ?? 0,
      quality: qualityFrom(pc, lossPercent, roundTrip === null ? null : roundTrip * 1000),
    };
  }
}
