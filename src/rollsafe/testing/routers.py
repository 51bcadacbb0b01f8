"""A router in memory: it records every split and maintenance page it is asked for."""

from __future__ import annotations

from collections.abc import Sequence

from rollsafe.routers import RouterError, Split


class FakeRouter:
    """Implements :class:`~rollsafe.routers.TrafficRouter`; serves nothing.

    ``splits`` holds every split applied, in order; ``maintenance`` every
    ``Retry-After`` of a maintenance page put up. ``fail()`` makes the next
    ``set_weights`` calls raise RouterError, as an nginx refusing its config does.
    """

    def __init__(self, *, port: int = 9) -> None:
        self.splits: list[Split] = []
        self.maintenance: list[int] = []
        self.running = False
        self.error: str | None = None
        self._port = port
        self._in_maintenance = False

    def fail(self, error: str = "split refused (FakeRouter.fail)") -> None:
        self.error = error

    def recover(self) -> None:
        self.error = None

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def set_weights(self, stable: Sequence[str], canary: Sequence[str], canary_weight: int) -> None:
        if self.error is not None:
            raise RouterError(self.error)
        self.splits.append(Split.of(stable, canary, canary_weight))
        self._in_maintenance = False

    def restore_previous(self) -> None:
        if len(self.splits) > 1:
            self.splits.append(self.splits[-2])

    def set_maintenance(self, retry_after: int) -> None:
        self.maintenance.append(retry_after)
        self._in_maintenance = True

    @property
    def in_maintenance(self) -> bool:
        return self._in_maintenance

    @property
    def split(self) -> Split | None:
        return self.splits[-1] if self.splits else None

    @property
    def url(self) -> str:
        if not self.running:
            raise RouterError("the fake router is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def weights(self) -> list[int]:
        """The canary's weight in each split applied, in order."""
        return [split.canary_weight for split in self.splits]
