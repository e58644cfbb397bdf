"""A backend from another distribution: the whole of what adding a backend takes.

`hostwrap` runs the firmware's host build on a pty, as `native` does, but it
is its own kind with its own inventory field (`nice`: the scheduling
priority of the firmware process). It reaches the service only through the
entry point `hostwrap = hil_hostwrap:HostWrapBackend` in the group
`hil_service.backends` of its distribution's metadata.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import Field

from hil_service.backends import LiveTarget
from hil_service.backends.entry import DeviceEntry
from hil_service.backends.native import start_native
from hil_service.backends.registry import Availability, Backend, LatencyClock


class HostWrapEntry(DeviceEntry):
    nice: Annotated[int, Field(ge=0, le=19)] = 0


class HostWrapBackend(Backend):
    kind = "hostwrap"
    auto_rank = 50  # after every built-in kind
    entry_model = HostWrapEntry

    def availability(self, entry: DeviceEntry) -> Availability:
        if shutil.which("nice") is None or shutil.which("cc") is None:
            return Availability(False, "needs nice and cc on PATH")
        return Availability(True, f"host build under nice {self.own(entry, HostWrapEntry).nice}")

    def firmware_image(self, entry: DeviceEntry) -> Path:
        from hil_service.firmware_build import build_firmware_posix

        return build_firmware_posix()

    def start(self, entry: DeviceEntry, image: Path,
              progress: Callable[[str], None] | None = None) -> LiveTarget:
        nice = self.own(entry, HostWrapEntry).nice
        # `nice -n N program args...` keeps the program's argv; start_native adds --pty-link
        wrapper = Path(image).with_name(f"{image.name}.nice{nice}")
        wrapper.write_text(f'#!/bin/sh\nexec nice -n {nice} "{image}" "$@"\n')
        wrapper.chmod(0o755)
        return start_native(wrapper)

    def latency_clock(self, entry: DeviceEntry) -> LatencyClock:
        return LatencyClock("host_clock", "hostwrap: the host's monotonic clock", None)

    def lock_key(self, entry: DeviceEntry) -> str:
        return f"hostwrap-{entry.id}"
