"""A small in-process cache of rendered page fragments, keyed by what they were rendered from.

Why not a shared cache (Redis): the key of each entry carries the database state the fragment depends on
(read by one cheap query, see `services.ami.public_signature`), so an entry can never be served stale, and
each gunicorn worker keeping its own copy costs one render per worker after a change, not a correctness
problem. No invalidation message has to travel between processes. Entries also expire after `ttl` seconds
(a backstop for what the signature does not see), and the least recently used go first past `size` entries.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class FragmentCache:
    def __init__(self, size: int = 256, ttl: float = 300.0) -> None:
        self.size = size
        self.ttl = ttl
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_set(self, key: Hashable, build: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[1]
            self.misses += 1
        value = build()  # outside the lock: two threads may build the same entry once each, harmlessly
        with self._lock:
            self._entries[key] = (now + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)
