"""Live subscriptions' shared upstream readers, and how many subscriptions a socket and a caller may hold.

Fan-out: a `Reader` per `View` (one partnership as one audience sees it) reads upstream for all of that
view's subscribers, however many: it starts with the first to attach and stops when the last leaves. It
never awaits a subscriber: each has a bounded queue, and one that falls `queue_size` items behind is
ended (`Overflowed`, it resumes from its cursor) while the others go on.

Order without gaps or duplicates, from the cursor a subscriber attached at: each read asks for the items
after the lowest cursor of all (`after`), and the page lists every item in (after, last] in sequence
order. A subscriber whose cursor is at or past `after` is handed the page's items past its cursor; one
that attached during the read with a lower cursor is skipped, and the next read starts from it. A join
wakes the reader, so a newcomer waits for no poll interval.

Whose rights: a read uses the credentials of one attached subscriber that still holds (`refusal()` is
None). A view groups subscribers whose verified rights agree, so what one may read the others may too.
A read refused for those credentials (401/403) ends the subscribers holding them and the next read uses
another's; any other failure ends every subscriber of the view.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog

from gateway.hardening import DomainError

log = structlog.get_logger(__name__)


class Sequenced(Protocol):
    @property
    def sequence(self) -> int: ...


T = TypeVar("T", bound=Sequenced)
# The items after a sequence, in sequence order, at most `limit` of them.
Read = Callable[[int, int], Awaitable[Sequence[T]]]


# --- limits ---------------------------------------------------------------------------------------------


class TooManySubscriptions(DomainError):
    def __init__(self, per: str, limit: int) -> None:
        super().__init__(
            f"at most {limit} subscriptions per {per}; complete one before subscribing again",
            code="too-many-subscriptions",
            per=per,
            limit=limit,
        )


class Limits:
    """Open subscriptions counted per socket and per caller (across its sockets, in this process)."""

    def __init__(self, *, per_socket: int, per_caller: int) -> None:
        self.per_socket = per_socket
        self.per_caller = per_caller
        self._sockets: Counter[object] = Counter()
        self._callers: Counter[Hashable] = Counter()

    def acquire(self, caller: Hashable, socket: object) -> Slot:
        """A slot, or `TooManySubscriptions` naming the limit reached."""
        if self._sockets[socket] >= self.per_socket:
            raise TooManySubscriptions("socket", self.per_socket)
        if self._callers[caller] >= self.per_caller:
            raise TooManySubscriptions("caller", self.per_caller)
        self._sockets[socket] += 1
        self._callers[caller] += 1
        return Slot(self, caller, socket)

    def held(self, caller: Hashable) -> int:
        return self._callers[caller]

    def _release(self, caller: Hashable, socket: object) -> None:
        for counts, key in ((self._sockets, socket), (self._callers, caller)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]


class Slot:
    """One subscription's place under the limits; `release` is idempotent (several paths end one)."""

    def __init__(self, limits: Limits, caller: Hashable, socket: object) -> None:
        self._limits: Limits | None = limits
        self._caller = caller
        self._socket = socket

    def release(self) -> None:
        if self._limits is not None:
            limits, self._limits = self._limits, None
            limits._release(self._caller, self._socket)


# --- fan-out --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class View:
    """What one shared reader reads: a partnership, as the audience (verified rights) reads it."""

    partnership_id: Hashable
    audience: Hashable


class Overflowed(Exception):
    """The subscriber fell `queue_size` items behind its view's reader."""


class Ended(Exception):
    """The reader ended this subscriber: `cause` is an `Overflowed` or the failed read's error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Subscriber(Generic[T]):
    """One subscription's end of a view: the items handed to it past `cursor`, and how to read on its
    behalf (its own credentials)."""

    def __init__(
        self,
        read: Read[T],
        *,
        credential: Hashable,
        refusal: Callable[[], Exception | None],
        cursor: int,
        queue_size: int,
    ) -> None:
        self.read = read
        self.credential = credential
        self.refusal = refusal
        self.cursor = cursor  # the last sequence handed to it
        self._queue_size = queue_size
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self._failure: Exception | None = None

    def offer(self, item: T) -> bool:
        """Queue `item`; False when the queue is full (the reader then ends this subscriber)."""
        if len(self._items) >= self._queue_size:
            return False
        self._items.append(item)
        self.cursor = item.sequence
        self._ready.set()
        return True

    def fail(self, cause: Exception) -> None:
        self._failure = cause
        self._ready.set()

    async def next(self, seconds: float) -> T | None:
        """The next item; None after `seconds` without one (so the caller can re-check its rights);
        `Ended` once the reader has ended it."""
        if self._failure is None and not self._items:
            self._ready.clear()
            # Not `wait_for`: its inner task would make a cancelled subscriber (completed, its socket
            # gone) take more than one step to unwind, and its slot outlive the `complete` message.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._ready.wait()
        if self._failure is not None:
            raise Ended(self._failure)
        return self._items.popleft() if self._items else None


class Reader(Generic[T]):
    """The one upstream reader of a view: a task polling every `poll_seconds` while anyone is attached."""

    def __init__(self, hub: Hub[T], view: View) -> None:
        self.hub = hub
        self.view = view
        self.subscribers: dict[Subscriber[T], None] = {}  # attach order: the first that holds reads
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def attach(self, subscriber: Subscriber[T]) -> None:
        self.subscribers[subscriber] = None
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"ledger-reader-{self.view}"
            )

    def detach(self, subscriber: Subscriber[T]) -> None:
        if subscriber not in self.subscribers:
            return
        del self.subscribers[subscriber]
        if self.subscribers:
            return
        self.hub._forget(self)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        try:
            while self.subscribers:
                await self._step()
        except Exception as error:  # a bug here must end the view's subscribers, not leave them waiting
            log.error("ledger_reader.crashed", error=type(error).__name__, exc_info=error)
            self._end(list(self.subscribers), error)

    async def _step(self) -> None:
        self._wake.clear()
        reader = next((s for s in self.subscribers if s.refusal() is None), None)
        if reader is None:  # none holds: each ends itself at its next check, and detaches
            await self._sleep()
            return
        after = min(s.cursor for s in self.subscribers)
        try:
            items = await reader.read(after, self.hub.page)
        except Exception as error:  # a failed read ends subscribers (see _failed), never the reader
            self._failed(reader, error)
            return
        self._hand_out(after, items)
        if self.subscribers and len(items) < self.hub.page and not self._wake.is_set():
            await self._sleep()

    def _hand_out(self, after: int, items: Sequence[T]) -> None:
        for item in items:
            for subscriber in list(self.subscribers):
                if subscriber.cursor < after or item.sequence <= subscriber.cursor:
                    continue  # attached during the read below `after` (the next read is from it), or seen
                if not subscriber.offer(item):
                    self._end([subscriber], Overflowed())

    def _failed(self, reader: Subscriber[T], error: Exception) -> None:
        status = error.extensions.get("status") if isinstance(error, DomainError) else None
        if status in (401, 403):
            self._end([s for s in self.subscribers if s.credential == reader.credential], error)
            return
        if not isinstance(error, DomainError):
            log.error("ledger_reader.failed", error=type(error).__name__, exc_info=error)
        self._end(list(self.subscribers), error)

    def _end(self, subscribers: list[Subscriber[T]], cause: Exception) -> None:
        for subscriber in subscribers:
            subscriber.fail(cause)
            self.detach(subscriber)

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.hub.poll_seconds):
                await self._wake.wait()


class Hub(Generic[T]):
    """The readers of one gateway process, by view, and the limits on subscriptions."""

    def __init__(
        self, *, poll_seconds: float, page: int, queue_size: int, per_socket: int, per_caller: int
    ) -> None:
        self.poll_seconds = poll_seconds
        self.page = page
        self.queue_size = queue_size
        self.limits = Limits(per_socket=per_socket, per_caller=per_caller)
        self._readers: dict[View, Reader[T]] = {}

    @contextlib.contextmanager
    def attached(self, view: View, subscriber: Subscriber[T]) -> Iterator[Reader[T]]:
        """`subscriber` receives the view's items past its cursor until the block ends (or it is ended)."""
        reader = self._readers.get(view)
        if reader is None:
            reader = self._readers[view] = Reader(self, view)
        reader.attach(subscriber)
        try:
            yield reader
        finally:
            reader.detach(subscriber)

    def readers(self) -> dict[View, Reader[T]]:
        return dict(self._readers)

    def _forget(self, reader: Reader[Any]) -> None:
        if self._readers.get(reader.view) is reader:
            del self._readers[reader.view]

    def close(self) -> None:
        for reader in list(self._readers.values()):
            reader.cancel()
        self._readers.clear()
