"""The workflow registry: entry-point group `hil_service.workflows`.

Another package adds a workflow by declaring, in its pyproject.toml,
`[project.entry-points."hil_service.workflows"] name = "pkg.module:WorkflowClass"`;
this package declares its own the same way (and lists them in BUILTIN, so a
source tree that was never `pip install`ed still has them). Tests may
`register()` a class directly. Loading a workflow registers its metrics in the
catalogue. A plugin that fails to load is left out with a warning and its
reason is given when a plan names it; the other workflows keep working.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from importlib.metadata import entry_points

from hil_service.errors import ConfigError
from hil_service.expectations import register_metrics, unregister_metrics
from hil_service.workflows.base import Workflow

__all__ = ["GROUP", "UnknownWorkflow", "get", "load_failures", "register", "registered", "unregister"]

GROUP = "hil_service.workflows"
BUILTIN = {
    "stream": "hil_service.workflows.stream:StreamWorkflow",
    "active_learning": "hil_service.workflows.active_learning:ActiveLearningWorkflow",
    "federated": "hil_service.workflows.federated:FederatedWorkflow",
    "continual": "hil_service.workflows.continual:ContinualWorkflow",
    "few_shot": "hil_service.workflows.few_shot:FewShotWorkflow",
    "label_free": "hil_service.workflows.label_free:LabelFreeWorkflow",
}

_lock = threading.Lock()
_loaded: dict[str, Workflow] | None = None


class UnknownWorkflow(ConfigError):
    """A plan names a workflow no installed package registers."""


def _load_class(name: str, value: str) -> Workflow:
    module_name, _, attr = value.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Workflow)):
        raise TypeError(f"workflow {name} = {value} (group {GROUP}) is not a Workflow subclass")
    if obj.name != name:
        raise TypeError(f"workflow {name} = {value} declares the name {obj.name!r}")
    return obj()


_failures: dict[str, str] = {}


def _load() -> dict[str, Workflow]:
    _failures.clear()
    values = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        if values.get(ep.name, ep.value) != ep.value:
            _failures[ep.name] = (f"workflow {ep.name!r} is registered twice: {values[ep.name]} and "
                                  f"{ep.value}; the first is used")
            continue
        values[ep.name] = ep.value
    found: dict[str, Workflow] = {}
    for name, value in sorted(values.items()):
        try:
            wf = _load_class(name, value)
            register_metrics(wf.name, wf.metrics)
        except Exception as exc:  # noqa: BLE001 - a plugin may fail in any way; the others still work
            _failures[name] = f"workflow plugin {name} = {value} failed to load: {type(exc).__name__}: {exc}"
            warnings.warn(_failures[name], RuntimeWarning, stacklevel=3)
            continue
        found[name] = wf
    return found


def load_failures() -> dict[str, str]:
    """Workflows whose plugin could not be loaded, with the reason."""
    registered()
    return dict(_failures)


def registered() -> dict[str, Workflow]:
    """Every workflow by name, loaded once."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _load()
        return dict(_loaded)


def get(name: str) -> Workflow:
    known = registered()
    try:
        return known[name]
    except KeyError:
        why = _failures.get(name)
        raise UnknownWorkflow(why if why else f"unknown workflow {name!r}; known: "
                                              f"{', '.join(sorted(known))}") from None


def register(cls: type[Workflow]) -> Workflow:
    """Add a workflow without an entry point (tests, notebooks); replaces one of the same name."""
    registered()
    wf = cls()
    register_metrics(wf.name, wf.metrics)
    with _lock:
        assert _loaded is not None
        _loaded[wf.name] = wf
    return wf


def unregister(name: str) -> None:
    """Remove a workflow added with register(), and the metrics only it registered."""
    registered()
    with _lock:
        assert _loaded is not None
        _loaded.pop(name, None)
    unregister_metrics(name)
