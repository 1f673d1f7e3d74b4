"""Type stubs of the extension module (the Rust engine bound to asyncio)."""

from typing import (
    Any,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Generator,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from typing import Protocol, TypedDict

T = TypeVar("T")
R = TypeVar("R")

class Clock(Protocol):
    """What ``clock=`` takes: an asyncio event loop has both members."""

    def time(self) -> float: ...
    def call_at(self, when: float, callback: Callable[[], object], /) -> Any: ...

class KeyStats(TypedDict):
    quotas: List[str]
    source: str
    paused_for: float
    queued: int
    in_flight: int
    margin: float

class Stats(TypedDict):
    sent: int
    succeeded: int
    unsuccessful: int
    rate_limited: int
    retries: int
    failed: int
    queued: int
    in_flight: Optional[int]
    keys: Dict[str, KeyStats]

Quotas = Union[str, Sequence[str], None]

class Pending(Awaitable[T]):
    def __await__(self) -> Generator[Any, None, T]: ...

class Permit:
    """The right to proceed; holds an in-flight slot until released."""

    @property
    def held(self) -> bool: ...
    def release(self) -> None: ...
    def __enter__(self) -> "Permit": ...
    def __exit__(self, *args: object) -> bool: ...

class Acquisition:
    """Awaitable (a Permit) and async context manager (the permit held in the block)."""

    def __await__(self) -> Generator[Any, None, Permit]: ...
    def __aenter__(self) -> Pending[Permit]: ...
    def __aexit__(self, *args: object) -> Pending[bool]: ...

class Limiter:
    def __init__(
        self,
        quotas: Quotas = None,
        *,
        burst: Optional[int] = None,
        concurrency: Optional[int] = None,
        per_key_concurrency: Optional[int] = None,
        max_wait: float = 600.0,
        timeout: Optional[float] = 30.0,
        max_retries: Optional[int] = None,
        key_quotas: Optional[Dict[str, Union[str, Sequence[str]]]] = None,
        learn: bool = True,
        breaker: bool = True,
        budget: bool = True,
        margin: bool = True,
        retry_non_idempotent: bool = False,
        clock: Optional[Clock] = None,
    ) -> None: ...
    def acquire(self, key: Optional[str] = None, n: Optional[int] = None) -> Acquisition: ...
    def try_acquire(self, key: Optional[str] = None, n: Optional[int] = None) -> Permit: ...
    def pause(self, key: str, seconds: float) -> None: ...
    def set_quotas(self, key: str, quotas: Union[str, Sequence[str]]) -> None: ...
    def stats(self) -> Stats: ...
    def key_stats(self, key: str) -> KeyStats: ...
    @property
    def max_wait(self) -> float: ...
    def _now_ns(self) -> int: ...
    def _execute(
        self,
        send: Callable[
            [Any], Awaitable[Tuple[Any, int, Iterable[Tuple[str, str]], Optional[int]]]
        ],
        permanent: Callable[[BaseException], bool],
        request: Any,
        key: str,
        method: str,
        replayable: bool,
    ) -> Pending[Tuple[Any, int, float]]: ...

class Map(AsyncIterator[Union[R, Exception]]):
    def __aiter__(self) -> "Map[R]": ...
    def __anext__(self) -> Pending[Union[R, Exception]]: ...
    def aclose(self) -> Pending[None]: ...

def map(
    fetch: Callable[[T], Awaitable[R]],
    items: Union[Iterable[T], AsyncIterable[T]],
    *,
    concurrency: Optional[int] = None,
    ordered: bool = True,
) -> Map[R]: ...
