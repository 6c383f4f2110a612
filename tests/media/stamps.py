"""Stamps drawn into video frames as big luma blocks, so they survive VP8 at any sane bitrate.

80 bits, 16x16 pixel blocks, 20 blocks a row on a 320x240 frame: room (8), source (8), frame
index (24), send time in monotonic milliseconds modulo 2**32 (32), XOR checksum (8).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import av

WIDTH, HEIGHT = 320, 240
BLOCK = 16
BLOCKS_PER_ROW = WIDTH // BLOCK
BITS = 80
DARK, LIGHT = 16, 235


def now_ms() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


@dataclass(frozen=True)
class Stamp:
    room: int
    source: int
    index: int
    sent_ms: int

    def to_bytes(self) -> bytes:
        body = bytes([self.room & 0xFF, self.source & 0xFF]) + (self.index & 0xFFFFFF).to_bytes(3, "big")
        body += (self.sent_ms & 0xFFFFFFFF).to_bytes(4, "big")
        checksum = 0
        for byte in body:
            checksum ^= byte
        return body + bytes([checksum ^ 0x5A])

    @classmethod
    def from_bytes(cls, data: bytes) -> Stamp | None:
        checksum = 0
        for byte in data[:9]:
            checksum ^= byte
        if checksum ^ 0x5A != data[9]:
            return None
        return cls(
            room=data[0],
            source=data[1],
            index=int.from_bytes(data[2:5], "big"),
            sent_ms=int.from_bytes(data[5:9], "big"),
        )


def draw(stamp: Stamp) -> av.VideoFrame:
    data = stamp.to_bytes()
    bits = [(data[i // 8] >> (7 - i % 8)) & 1 for i in range(BITS)]
    luma = bytearray([128]) * (WIDTH * HEIGHT)
    for row in range(BITS // BLOCKS_PER_ROW):
        line = b"".join(
            bytes([LIGHT if bits[row * BLOCKS_PER_ROW + col] else DARK]) * BLOCK for col in range(BLOCKS_PER_ROW)
        )
        for y in range(row * BLOCK, (row + 1) * BLOCK):
            luma[y * WIDTH : (y + 1) * WIDTH] = line
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    frame.planes[0].update(bytes(luma))
    chroma = bytes([128]) * frame.planes[1].buffer_size
    frame.planes[1].update(chroma)
    frame.planes[2].update(chroma)
    return frame


def read(frame: av.VideoFrame) -> Stamp | None:
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    pixels = bytes(plane)
    stride = plane.line_size
    bits = []
    for i in range(BITS):
        row, col = divmod(i, BLOCKS_PER_ROW)
        y, x = row * BLOCK + BLOCK // 2, col * BLOCK + BLOCK // 2
        total = sum(pixels[(y + dy) * stride + x + dx] for dy in (-3, 3) for dx in (-3, 3))
        bits.append(1 if total > 4 * 128 else 0)
    data = bytes(sum(bits[b * 8 + k] << (7 - k) for k in range(8)) for b in range(BITS // 8))
    return Stamp.from_bytes(data)
