"""CPU work on request bodies (JSON parsing, base64, image headers) off the event loop when it is large.

The event loop answers every request, /v2/health/ready included; a large body parsed on it
would hold all of them up. Small work (the usual one-image request) stays on the loop, where it
takes well under a millisecond: the hop to a thread and back would cost more than the work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Callable, TypeVar

T = TypeVar("T")

INLINE_BYTES = 64 * 1024  # work on at most this many bytes stays on the event loop (~0.3 ms: JSON, base64, header)
# Parsing holds the GIL, so more threads would not parse faster; two let a second body start while one large
# body's checks run, and bound how many bodies are mid-parse (when a body is in memory three times) at once.
THREADS = 2


def executor() -> concurrent.futures.ThreadPoolExecutor:
    """The pool that parses large bodies; the app shuts it down with its lifespan."""
    return concurrent.futures.ThreadPoolExecutor(THREADS, thread_name_prefix="fairvision-parse")


async def off_loop(pool: concurrent.futures.Executor, work: Callable[[], T], *, inline: bool) -> T:
    """``work()``: on the event loop if ``inline`` (the caller found it small), else in ``pool``."""
    if inline:
        return work()
    return await asyncio.get_running_loop().run_in_executor(pool, work)
