"""A small fixed-window rate limit on the Django cache (Redis in production, local memory here)."""

from __future__ import annotations

from django.core.cache import cache


def consume(*, key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit for ``key``; False once more than ``limit`` hits fall in the current window."""
    cache_key = f"ratelimit:{key}"
    # add() is atomic and only sets a missing key, so the window starts at the first hit.
    if cache.add(cache_key, 1, timeout=window_seconds):
        return True
    try:
        hits = cache.incr(cache_key)
    except ValueError:
        # The window expired between add() and incr(): this hit opens a new one.
        cache.add(cache_key, 1, timeout=window_seconds)
        return True
    return hits <= limit
