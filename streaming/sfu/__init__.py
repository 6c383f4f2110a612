"""Selective forwarding unit: the guide's encoded media relayed to viewers without transcoding.

Plain asyncio on aiortc, no Django: the signalling consumer calls :class:`SfuRoom` coroutines.
"""

from .adaptation import AdaptationConfig, Rendition
from .rendition import RenditionConfig, RenditionStats
from .room import MediaCounters, RoomStats, SfuConfig, SfuRegistry, SfuRoom, ViewerStats

__all__ = [
    "AdaptationConfig",
    "MediaCounters",
    "Rendition",
    "RenditionConfig",
    "RenditionStats",
    "RoomStats",
    "SfuConfig",
    "SfuRegistry",
    "SfuRoom",
    "ViewerStats",
]
