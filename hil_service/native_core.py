"""ctypes binding of the C training core built for the host (libodl.so).

Used by the golden tests and benchmarks to run the real C code against the
numpy twin. Struct mirrors are checked against the library's own sizeof at
load time, so a header change without a binding change fails loudly.
"""

from __future__ import annotations

import ctypes as C
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hil_service.reference.mlp import Arch, StepOutcome, TrainParams
from hil_service.wire_gen import PARAMS, TrainParamsStruct

MAX_LAYERS = 4


class CoreError(RuntimeError):
    """A call into the C core returned an error status."""

    def __init__(self, function: str, status: int, name: str) -> None:
        super().__init__(f"{function} returned {name} ({status})")
        self.function = function
        self.status = status
        self.name = name


class _Arch(C.Structure):
    _fields_ = [("n_layers", C.c_uint8), ("sizes", C.c_uint16 * (MAX_LAYERS + 1))]


# odl_train_params_t is generated from the wire table (firmware_zephyr/protocol/wire.toml)
_TrainParams = TrainParamsStruct


class _StepResult(C.Structure):
    _fields_ = [
        ("outcome", C.c_uint32),
        ("predicted", C.c_uint16),
        ("k", C.c_uint16 * MAX_LAYERS),
        ("loss", C.c_float),
        ("error", C.c_float),
        ("score", C.c_float),
        ("macs_forward", C.c_uint32),
        ("macs_backward", C.c_uint32),
        ("macs_backward_full", C.c_uint32),
        ("cycles_forward", C.c_uint32),
        ("cycles_backward", C.c_uint32),
        ("cycles_update", C.c_uint32),
    ]


class _CycleStat(C.Structure):
    _fields_ = [("count", C.c_uint32), ("min", C.c_uint32), ("max", C.c_uint32), ("sum", C.c_uint64)]


class _Stats(C.Structure):
    _fields_ = [
        ("forward", _CycleStat),
        ("backward", _CycleStat),
        ("update", _CycleStat),
        ("macs_forward", C.c_uint64),
        ("macs_backward", C.c_uint64),
        ("macs_backward_full", C.c_uint64),
        ("seen", C.c_uint32),
        ("selected", C.c_uint32),
        ("trained", C.c_uint32),
        ("skipped", C.c_uint32),
        ("k_sum", C.c_uint64 * MAX_LAYERS),
        ("k_min", C.c_uint16 * MAX_LAYERS),
        ("k_max", C.c_uint16 * MAX_LAYERS),
    ]


class _ReplayFormat(C.Structure):
    _fields_ = [("total", C.c_uint16), ("n_features", C.c_uint16), ("encoding", C.c_uint8),
                ("ratio", C.c_uint8), ("zero_point", C.c_int16), ("scale", C.c_float)]


class _Replay(C.Structure):
    _fields_ = [("mem", C.c_void_p), ("capacity", C.c_size_t), ("fmt", _ReplayFormat),
                ("received", C.c_uint16), ("count", C.c_uint16), ("cursor", C.c_uint16)]


@dataclass(frozen=True)
class NativeStep:
    outcome: StepOutcome
    predicted: int
    loss: float
    error: float
    score: float
    k: tuple[int, ...]
    selected: tuple[np.ndarray, ...]
    macs_forward: int
    macs_backward: int
    macs_backward_full: int


_FP = C.POINTER(C.c_float)


class NativeCore:
    """The loaded library; one per process is plenty."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        lib = C.CDLL(str(self.path))
        self.lib = lib
        sig = {
            "odl_status_str": (C.c_char_p, [C.c_int]),
            "odl_model_arena_bytes": (C.c_int, [C.POINTER(_Arch), C.POINTER(_TrainParams), C.POINTER(C.c_size_t)]),
            "odl_model_init": (C.c_int, [C.c_void_p, C.POINTER(_Arch), C.POINTER(_TrainParams), C.c_void_p, C.c_size_t]),
            "odl_model_init_weights": (C.c_int, [C.c_void_p, C.c_uint32]),
            "odl_model_predict": (C.c_int, [C.c_void_p, _FP, C.c_size_t, _FP, C.c_size_t, C.POINTER(C.c_uint16)]),
            "odl_train_step": (C.c_int, [C.c_void_p, _FP, C.c_size_t, C.c_uint16, C.POINTER(_StepResult)]),
            "odl_train_step_unlabelled": (C.c_int, [C.c_void_p, _FP, C.c_size_t, C.POINTER(_StepResult)]),
            "odl_model_selected": (C.c_int, [C.c_void_p, C.c_uint8, C.POINTER(C.POINTER(C.c_uint16)), C.POINTER(C.c_uint16)]),
            "odl_model_get_stats": (C.c_int, [C.c_void_p, C.POINTER(_Stats)]),
            "odl_model_arena_peak": (C.c_int, [C.c_void_p, C.POINTER(C.c_size_t)]),
            "odl_blob_size": (C.c_size_t, [C.POINTER(_Arch)]),
            "odl_blob_write": (C.c_int, [C.c_void_p, C.c_char_p, C.c_size_t, C.POINTER(C.c_size_t)]),
            "odl_blob_read": (C.c_int, [C.c_void_p, C.c_char_p, C.c_size_t]),
            "odl_crc32": (C.c_uint32, [C.c_char_p, C.c_size_t, C.c_uint32]),
            "odl_rng_seed": (C.c_uint32, [C.c_uint32]),
            "odl_rng_next": (C.c_uint32, [C.POINTER(C.c_uint32)]),
            "odl_uncertainty": (C.c_int, [_FP, C.c_size_t, C.c_uint32, _FP]),
            "odl_model_grow": (C.c_int, [C.c_void_p, C.POINTER(_Arch), C.c_uint32]),
            "odl_model_grow_check": (C.c_int, [C.c_void_p, C.POINTER(_Arch)]),
            "odl_replay_init": (C.c_int, [C.POINTER(_Replay), C.c_void_p, C.c_size_t]),
            "odl_replay_load": (C.c_int, [C.POINTER(_Replay), C.c_void_p, C.POINTER(_ReplayFormat),
                                          C.c_uint16, C.c_char_p, C.c_uint16, C.POINTER(C.c_uint16)]),
            "odl_replay_steps": (C.c_int, [C.POINTER(_Replay), C.c_void_p, _FP, C.POINTER(C.c_uint32)]),
        }
        for name, (restype, argtypes) in sig.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        for name in ("model", "arch", "train_params", "step_result", "stats"):
            getattr(lib, f"odl_abi_sizeof_{name}").restype = C.c_size_t
        lib.odl_abi_max_layers.restype = C.c_uint
        mirrors = {"arch": _Arch, "train_params": _TrainParams, "step_result": _StepResult, "stats": _Stats}
        for name, mirror in mirrors.items():
            native = getattr(lib, f"odl_abi_sizeof_{name}")()
            if native != C.sizeof(mirror):
                raise RuntimeError(f"{self.path}: sizeof odl_{name}_t is {native}, the binding has {C.sizeof(mirror)}")
        if lib.odl_abi_max_layers() != MAX_LAYERS:
            raise RuntimeError(f"{self.path}: built with ODL_MAX_LAYERS={lib.odl_abi_max_layers()}")
        self.sizeof_model = lib.odl_abi_sizeof_model()

    def check(self, function: str, status: int) -> None:
        if status != 0:
            raise CoreError(function, status, self.lib.odl_status_str(status).decode())

    def arena_bytes(self, arch: Arch, params: TrainParams | None) -> int:
        out = C.c_size_t()
        st = self.lib.odl_model_arena_bytes(C.byref(_arch(arch)), _params_ptr(params), C.byref(out))
        self.check("odl_model_arena_bytes", st)
        return out.value

    def crc32(self, data: bytes, crc: int = 0) -> int:
        value: int = self.lib.odl_crc32(data, len(data), crc)
        return value

    def rng_stream(self, seed: int, n: int) -> list[int]:
        state = C.c_uint32(self.lib.odl_rng_seed(seed))
        return [self.lib.odl_rng_next(C.byref(state)) for _ in range(n)]

    def uncertainty(self, probs: np.ndarray, kind: int) -> float:
        arr, ptr = _floats(probs)
        out = C.c_float()
        self.check("odl_uncertainty", self.lib.odl_uncertainty(ptr, arr.size, kind, C.byref(out)))
        return out.value


def _arch(arch: Arch) -> _Arch:
    a = _Arch()
    a.n_layers = arch.n_layers
    for i, s in enumerate(arch.sizes):
        a.sizes[i] = s
    return a


def _params_ptr(params: TrainParams | None) -> object:
    if params is None:
        return None
    # the twin's attributes carry the table's names; the struct its C member names
    values = {name: getattr(params, name) for name in PARAMS}
    p = _TrainParams(**{spec.c_field: int(values[name]) if spec.enum else float(values[name])
                        for name, spec in PARAMS.items()})
    return C.byref(p)


def _floats(x: np.ndarray) -> tuple[np.ndarray, object]:
    arr = np.ascontiguousarray(x, dtype=np.float32)
    return arr, arr.ctypes.data_as(_FP)


class NativeModel:
    """An odl_model_t with its own arena, driven through the C API."""

    def __init__(self, core: NativeCore, arch: Arch, params: TrainParams | None = None,
                 arena_bytes: int | None = None) -> None:
        self.core, self.arch, self.params = core, arch, params
        self.arena_size = arena_bytes if arena_bytes is not None else core.arena_bytes(arch, params)
        self._model = (C.c_uint64 * ((core.sizeof_model + 7) // 8))()
        self._arena = (C.c_uint8 * max(self.arena_size, 1))()
        st = core.lib.odl_model_init(self._model, C.byref(_arch(arch)), _params_ptr(params),
                                     self._arena, self.arena_size)
        core.check("odl_model_init", st)

    def init_weights(self, seed: int) -> NativeModel:
        self.core.check("odl_model_init_weights", self.core.lib.odl_model_init_weights(self._model, seed))
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        arr, ptr = _floats(x)
        probs = np.zeros(self.arch.sizes[-1], np.float32)
        st = self.core.lib.odl_model_predict(self._model, ptr, arr.size, probs.ctypes.data_as(_FP),
                                             probs.size, None)
        self.core.check("odl_model_predict", st)
        return probs

    def predict(self, xs: np.ndarray) -> np.ndarray:
        xs = np.atleast_2d(np.asarray(xs, np.float32))
        out = np.empty(len(xs), np.int64)
        pred = C.c_uint16()
        for i, x in enumerate(xs):
            arr, ptr = _floats(x)
            st = self.core.lib.odl_model_predict(self._model, ptr, arr.size, None, 0, C.byref(pred))
            self.core.check("odl_model_predict", st)
            out[i] = pred.value
        return out

    def accuracy(self, xs: np.ndarray, ys: np.ndarray) -> float:
        return float(np.mean(self.predict(xs) == np.asarray(ys)))

    def train_step(self, x: np.ndarray, label: int) -> NativeStep:
        arr, ptr = _floats(x)
        r = _StepResult()
        st = self.core.lib.odl_train_step(self._model, ptr, arr.size, label, C.byref(r))
        self.core.check("odl_train_step", st)
        n = self.arch.n_layers
        return NativeStep(StepOutcome(r.outcome), r.predicted, r.loss, r.error, r.score,
                          tuple(r.k[:n]), self.selected(), r.macs_forward, r.macs_backward,
                          r.macs_backward_full)

    def train_step_unlabelled(self, x: np.ndarray) -> NativeStep:
        """odl_train_step_unlabelled(): predicted is the pseudo label unless NOT_CONFIDENT."""
        arr, ptr = _floats(x)
        r = _StepResult()
        st = self.core.lib.odl_train_step_unlabelled(self._model, ptr, arr.size, C.byref(r))
        self.core.check("odl_train_step_unlabelled", st)
        n = self.arch.n_layers
        return NativeStep(StepOutcome(r.outcome), r.predicted, r.loss, r.error, r.score,
                          tuple(r.k[:n]), self.selected(), r.macs_forward, r.macs_backward,
                          r.macs_backward_full)

    def train_unlabelled(self, xs: np.ndarray) -> np.ndarray:
        """Unlabelled steps in order: int16 pseudo label per sample, -1 where not confident."""
        xs = np.atleast_2d(np.asarray(xs, np.float32))
        out = np.full(len(xs), -1, np.int16)
        for i, x in enumerate(xs):
            r = self.train_step_unlabelled(x)
            if r.outcome != StepOutcome.NOT_CONFIDENT:
                out[i] = r.predicted
        return out

    def train_sequence(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Steps over samples in the given order (no per-step results kept)."""
        lib, model = self.core.lib, self._model
        xs = np.ascontiguousarray(xs, np.float32)
        n_in = xs.shape[1]
        for i in range(len(xs)):
            st = lib.odl_train_step(model, xs[i].ctypes.data_as(_FP), n_in, int(ys[i]), None)
            if st != 0:
                self.core.check("odl_train_step", st)

    def selected(self) -> tuple[np.ndarray, ...]:
        rows = C.POINTER(C.c_uint16)()
        k = C.c_uint16()
        out = []
        for layer in range(self.arch.n_layers):
            self.core.check("odl_model_selected",
                            self.core.lib.odl_model_selected(self._model, layer, C.byref(rows), C.byref(k)))
            out.append(np.array(rows[: k.value], dtype=np.int64) if k.value else np.zeros(0, np.int64))
        return tuple(out)

    def stats(self) -> dict[str, Any]:
        s = _Stats()
        self.core.check("odl_model_get_stats", self.core.lib.odl_model_get_stats(self._model, C.byref(s)))
        n = self.arch.n_layers
        return {
            "seen": s.seen, "selected": s.selected, "trained": s.trained, "skipped": s.skipped,
            "macs_forward": s.macs_forward, "macs_backward": s.macs_backward,
            "macs_backward_full": s.macs_backward_full,
            "k_sum": list(s.k_sum[:n]), "k_min": list(s.k_min[:n]), "k_max": list(s.k_max[:n]),
            "forward_count": s.forward.count,
        }

    def arena_peak(self) -> int:
        out = C.c_size_t()
        self.core.check("odl_model_arena_peak", self.core.lib.odl_model_arena_peak(self._model, C.byref(out)))
        return out.value

    def to_blob(self) -> bytes:
        size = self.core.lib.odl_blob_size(C.byref(_arch(self.arch)))
        buf = C.create_string_buffer(size)
        n = C.c_size_t()
        self.core.check("odl_blob_write", self.core.lib.odl_blob_write(self._model, buf, size, C.byref(n)))
        return buf.raw[: n.value]

    def load_blob(self, blob: bytes) -> None:
        self.core.check("odl_blob_read", self.core.lib.odl_blob_read(self._model, blob, len(blob)))

    # -- continual learning (odl_grow.h, odl_replay.h) ------------------------
    def grow(self, to: Arch, seed: int) -> None:
        """odl_model_grow(); the arena must have been sized for `to` or larger."""
        self.core.check("odl_model_grow", self.core.lib.odl_model_grow(self._model, C.byref(_arch(to)), seed))
        self.arch = to

    def grow_status(self, to: Arch) -> int:
        """odl_model_grow_check()'s status (0 when the growth would be accepted)."""
        return int(self.core.lib.odl_model_grow_check(self._model, C.byref(_arch(to))))

    def train_with_replay(self, xs: np.ndarray, ys: np.ndarray, replay: NativeReplay) -> None:
        """The firmware's TRAIN loop: each sample's step, then odl_replay_steps()."""
        lib, model = self.core.lib, self._model
        xs = np.ascontiguousarray(xs, np.float32)
        scratch = np.zeros(xs.shape[1], np.float32)
        for i in range(len(xs)):
            self.core.check("odl_train_step", lib.odl_train_step(model, xs[i].ctypes.data_as(_FP),
                                                                 xs.shape[1], int(ys[i]), None))
            self.core.check("odl_replay_steps", lib.odl_replay_steps(C.byref(replay.state), model,
                                                                     scratch.ctypes.data_as(_FP), None))


class NativeReplay:
    """An odl_replay_t over its own capacity bytes."""

    def __init__(self, core: NativeCore, capacity: int) -> None:
        self.core = core
        self.state = _Replay()
        self._mem = (C.c_uint8 * max(capacity, 1))()
        core.check("odl_replay_init", core.lib.odl_replay_init(C.byref(self.state), self._mem, capacity))

    def load(self, model: NativeModel, records: bytes, count: int, first: int, total: int,
             n_features: int, ratio: int, scale: float | None = None, zero_point: int = 0) -> int:
        """odl_replay_load(); returns the status and leaves bad_index in self.bad_index."""
        fmt = _ReplayFormat(total=total, n_features=n_features, encoding=0 if scale is None else 1,
                            ratio=ratio, zero_point=zero_point, scale=scale or 0.0)
        bad = C.c_uint16()
        st = self.core.lib.odl_replay_load(C.byref(self.state), model._model, C.byref(fmt), first,
                                           records, count, C.byref(bad))
        self.bad_index = bad.value
        return int(st)

    @property
    def cursor(self) -> int:
        return int(self.state.cursor)

    @property
    def count(self) -> int:
        return int(self.state.count)
