"""The backend registry: which kinds of device under test exist, and who serves each.

A backend is a `Backend` subclass in its own module, declaring its kind,
its inventory fields (`entry_model`), how available it is, where its image
comes from, how to start it, what its cycle counts mean and what to lock.
Backends are found through the entry-point group `hil_service.backends`
(name = kind, value = "module:Class"), as pyOCD finds its probe drivers and
pytest its plugins: another installed distribution adds a kind without
editing this package. This package declares its own four in pyproject.toml;
`BUILTIN` repeats them for a source tree whose installed metadata predates
them.
"""

from __future__ import annotations

import importlib
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar, TypeVar

from hil_service.backends import BackendError, LiveTarget
from hil_service.backends.entry import DeviceEntry, InvalidEntry
from hil_service.errors import ConfigError

__all__ = ["AUTO", "ENTRY_POINT_GROUP", "Availability", "Backend", "LatencyClock",
           "UnknownBackend", "auto_order", "availability", "backend_for", "backend_of_kind",
           "load_failures", "registered"]

ENTRY_POINT_GROUP = "hil_service.backends"
#: The selector value that lets the registry choose (in `auto_order`).
AUTO = "auto"

BUILTIN: dict[str, str] = {
    "board": "hil_service.backends.board:BoardBackend",
    "renode": "hil_service.backends.renode:RenodeBackend",
    "qemu": "hil_service.backends.qemu:QemuBackend",
    "native": "hil_service.backends.native:NativeBackend",
}

E = TypeVar("E", bound=DeviceEntry)


class UnknownBackend(ConfigError):
    """An inventory entry or selector names a backend kind nobody registered."""


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str


@dataclass(frozen=True)
class LatencyClock:
    """How to read the device's cycle counts: what they are and what one is worth."""

    source: str  # "cycle_counter", "icount", "renode_virtual" or "host_clock"
    note: str
    instructions_per_cycle: float | None  # only where a cycle is a known number of instructions

    def to_json(self) -> dict[str, object]:
        return {"source": self.source, "note": self.note,
                "instructions_per_cycle": self.instructions_per_cycle}


class Backend(ABC):
    """One kind of device under test. Stateless: every call gets the inventory entry."""

    kind: ClassVar[str]
    #: `auto` tries kinds in ascending rank: real hardware first, the host build last.
    auto_rank: ClassVar[int]
    entry_model: ClassVar[type[DeviceEntry]]

    @abstractmethod
    def availability(self, entry: DeviceEntry) -> Availability:
        """Whether the device can be used now, and if not, why (one line)."""

    def firmware_image(self, entry: DeviceEntry) -> Path:
        """The ELF to run: the inventory's image. Backends that build their own override this."""
        path = entry.image_path()
        if path is None:
            raise BackendError(f"device {entry.id}: the inventory gives no firmware image (image:)")
        if not path.is_file():
            raise BackendError(f"device {entry.id}: firmware image {path} does not exist "
                               f"(build it with west, docs/zephyr.md)")
        return path

    @abstractmethod
    def start(self, entry: DeviceEntry, image: Path,
              progress: Callable[[str], None] | None = None) -> LiveTarget:
        """Bring the device up running image; the caller owns (closes) the target."""

    @abstractmethod
    def latency_clock(self, entry: DeviceEntry) -> LatencyClock:
        """What the firmware's cycle counts mean on this backend."""

    def lock_key(self, entry: DeviceEntry) -> str:
        """What two runs must not share: by default the device id."""
        return entry.id

    # -- helpers for subclasses ------------------------------------------------------------
    def own(self, entry: DeviceEntry, model: type[E]) -> E:
        """entry as this backend's model; an entry of another kind is a bug of the caller."""
        if not isinstance(entry, model):
            raise TypeError(f"{type(self).__name__} got a {type(entry).__name__} for device "
                            f"{entry.id}, not a {model.__name__}")
        return entry

    @staticmethod
    def image_availability(entry: DeviceEntry) -> Availability:
        """Available if the inventory names an image that exists."""
        path = entry.image_path()
        if path is None:
            return Availability(False, "no firmware image in the inventory (image:)")
        if not path.is_file():
            return Availability(False, f"image {path} not built")
        return Availability(True, "ready")


_failures: dict[str, str] = {}


def _load(kind: str, value: str, origin: str) -> Backend | None:
    """Instantiate one registered backend; a broken plugin is recorded, not fatal."""
    try:
        module_name, _, attr = value.partition(":")
        obj: object = importlib.import_module(module_name)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
        if not (isinstance(obj, type) and issubclass(obj, Backend)):
            raise TypeError(f"{value} is not a Backend subclass")
        if obj.kind != kind:
            raise TypeError(f"{value} declares kind {obj.kind!r}, registered as {kind!r}")
        if not issubclass(obj.entry_model, DeviceEntry):
            raise TypeError(f"{value}.entry_model does not extend DeviceEntry")
        return obj()
    except Exception as exc:  # noqa: BLE001 - a third-party plugin may fail in any way
        _failures[kind] = f"backend plugin {kind} = {value} ({origin}) failed to load: " \
                          f"{type(exc).__name__}: {exc}"
        warnings.warn(_failures[kind], RuntimeWarning, stacklevel=3)
        return None


@lru_cache(maxsize=1)
def registered() -> dict[str, Backend]:
    """Every backend kind found in the entry-point group, plus the built-ins."""
    _failures.clear()
    found: dict[str, tuple[str, str]] = {k: (v, "built-in") for k, v in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        previous = found.get(ep.name)
        if previous is not None and previous[0] != ep.value:
            # the first registration keeps the kind; the clash is reported, not resolved
            _failures[f"{ep.name} ({dist})"] = (
                f"backend kind {ep.name!r} of {dist} ({ep.value}) is already registered "
                f"by {previous[1]} ({previous[0]}); ignored")
            continue
        if previous is None:
            found[ep.name] = (ep.value, f"distribution {dist}")
    backends: dict[str, Backend] = {}
    for kind, (value, origin) in found.items():
        backend = _load(kind, value, origin)
        if backend is not None:
            backends[kind] = backend
    return backends


def load_failures() -> dict[str, str]:
    """Kinds whose plugin could not be loaded, with the reason (after `registered()`)."""
    registered()
    return dict(_failures)


def auto_order() -> tuple[str, ...]:
    """The kinds `auto` tries, in order."""
    return tuple(sorted(registered(), key=lambda k: (registered()[k].auto_rank, k)))


def backend_for(entry: DeviceEntry) -> Backend:
    if isinstance(entry, InvalidEntry):
        raise ConfigError(f"device {entry.id} ({entry.source}) is not usable: {entry.problem}")
    return backend_of_kind(entry.backend, entry.id)


def backend_of_kind(kind: str, device: str = "") -> Backend:
    backends = registered()
    try:
        return backends[kind]
    except KeyError:
        why = _failures.get(kind)
        where = f"device {device}: " if device else ""
        raise UnknownBackend(why if why else f"{where}no backend {kind!r} is registered "
                             f"(known: {', '.join(auto_order())})") from None


def availability(entry: DeviceEntry) -> Availability:
    """Whether entry can be used now; an invalid entry names its problem."""
    if isinstance(entry, InvalidEntry):
        return Availability(False, f"invalid entry: {entry.problem}")
    try:
        return backend_for(entry).availability(entry)
    except UnknownBackend as exc:
        return Availability(False, str(exc))
