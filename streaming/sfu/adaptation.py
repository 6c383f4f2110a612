"""Which rendition a viewer gets: the switching policy, as pure logic (no I/O, no aiortc).

Input: the viewer's own RTCP receiver reports about the video the SFU sends it (``fraction lost``
per report, about one a second from browsers and aiortc). Output: a decision to move that viewer
to the session's low rendition or back to the guide's own encoding (docs/adr/0010).

* Down fast: one report with ``heavy_loss`` or more, or two reports in a row with
  ``loss_threshold`` or more (a single unlucky report must not downgrade a good viewer).
* Up slowly: after ``probe_after`` seconds on the low rendition with no report above
  ``stable_loss``, try the full stream again. Loss has no upper bound to reveal on a link that
  carries the low stream well, so going up is a probe: if the viewer comes back down within
  ``probe_grace`` seconds, the probe failed and the next wait doubles (up to
  ``max_probe_after``); a probe that holds for ``probe_grace`` resets the wait.

Why loss and not the other signals (measured reasoning in the ADR): the SFU's per-viewer queue
overflows when the SFU's own CPU is short, not when a viewer's link is (UDP never pushes back),
and a receive-side bandwidth estimate (REMB) on the low stream cannot exceed about 1.5 times what
it carries, so it never shows room for the full stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["AdaptationConfig", "Rendition", "ViewerAdaptation"]


class Rendition(StrEnum):
    HIGH = "high"  # the guide's own encoding, forwarded as it is
    LOW = "low"  # the session's one low rendition (streaming/sfu/rendition.py)


@dataclass(frozen=True)
class AdaptationConfig:
    """Thresholds of the policy. Fractions are of packets (0..1), times in seconds."""

    enabled: bool = True
    loss_threshold: float = 0.05
    heavy_loss: float = 0.20
    stable_loss: float = 0.02
    probe_after: float = 15.0
    max_probe_after: float = 120.0
    probe_grace: float = 20.0


class ViewerAdaptation:
    """One viewer's state: the rendition it should get and the evidence so far."""

    def __init__(self, config: AdaptationConfig) -> None:
        self.config = config
        self.rendition = Rendition.HIGH
        self.probe_wait = config.probe_after
        self.switches_down = 0
        self.switches_up = 0
        self._lossy_in_a_row = 0
        self._clean_since = 0.0  # on LOW: time of the last report above stable_loss (or of going down)
        self._probed_at: float | None = None  # on HIGH after a probe: when it went up

    def on_loss_report(self, fraction_lost: float, now: float) -> Rendition | None:
        """Feed one receiver report; the new rendition if the viewer must switch, else None."""
        config = self.config
        if self.rendition is Rendition.HIGH:
            self._lossy_in_a_row = self._lossy_in_a_row + 1 if fraction_lost >= config.loss_threshold else 0
            if fraction_lost >= config.heavy_loss or self._lossy_in_a_row >= 2:
                return self._go_down(now)
            if self._probed_at is not None and now - self._probed_at >= config.probe_grace:
                # The probe held: the link has really recovered.
                self._probed_at = None
                self.probe_wait = config.probe_after
            return None
        if fraction_lost > config.stable_loss:
            self._clean_since = now
            return None
        if now - self._clean_since >= self.probe_wait:
            return self._go_up(now)
        return None

    def restart(self, rendition: Rendition, now: float) -> None:
        """Forget the evidence: the viewer is on ``rendition`` from ``now`` (after a pin is lifted)."""
        self.rendition = rendition
        self.probe_wait = self.config.probe_after
        self._lossy_in_a_row = 0
        self._clean_since = now
        self._probed_at = None

    def _go_down(self, now: float) -> Rendition:
        config = self.config
        if self._probed_at is not None and now - self._probed_at < config.probe_grace:
            self.probe_wait = min(self.probe_wait * 2, config.max_probe_after)
        self._probed_at = None
        self._lossy_in_a_row = 0
        self._clean_since = now
        self.rendition = Rendition.LOW
        self.switches_down += 1
        return Rendition.LOW

    def _go_up(self, now: float) -> Rendition:
        self._probed_at = now
        self._lossy_in_a_row = 0
        self.rendition = Rendition.HIGH
        self.switches_up += 1
        return Rendition.HIGH
