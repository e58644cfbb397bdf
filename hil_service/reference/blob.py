"""The weight blob (docs/weight_blob.md), written and read like odl_blob.c does."""

from __future__ import annotations

import struct
import zlib

import numpy as np

MAGIC = b"ODLW"
VERSION = 1
HEADER_BYTES = 24
CRC_BYTES = 4
MAX_LAYERS = 4
_HEADER = struct.Struct("<4sHBB5HHI")


class BlobError(ValueError):
    """A blob that cannot be applied; .code names the core's status for the same fault."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def param_count(sizes: tuple[int, ...]) -> int:
    return sum(sizes[i + 1] * (sizes[i] + 1) for i in range(len(sizes) - 1))


def blob_size(sizes: tuple[int, ...]) -> int:
    return HEADER_BYTES + 4 * param_count(sizes) + CRC_BYTES


def write_blob(sizes: tuple[int, ...], params: np.ndarray) -> bytes:
    """Blob bytes for an architecture and its flat float32 parameters (blob order)."""
    n_layers = len(sizes) - 1
    if not 1 <= n_layers <= MAX_LAYERS:
        raise BlobError("ODL_ERR_ARCH", f"{n_layers} layers; the blob holds 1..{MAX_LAYERS}")
    flat = np.ascontiguousarray(params, dtype="<f4").ravel()
    if flat.size != param_count(sizes):
        raise BlobError("ODL_ERR_LENGTH",
                        f"{flat.size} parameters for sizes {sizes}, expected {param_count(sizes)}")
    padded = list(sizes) + [0] * (MAX_LAYERS + 1 - len(sizes))
    header = _HEADER.pack(MAGIC, VERSION, n_layers, 0, *padded, 0, flat.size)
    body = header + flat.tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


def parse_header(blob: bytes) -> tuple[tuple[int, ...], int]:
    """(sizes, total bytes) from a blob's header, checked like odl_blob_parse_header()."""
    if len(blob) < HEADER_BYTES:
        raise BlobError("ODL_ERR_BLOB_SIZE",
                        f"{len(blob)} bytes, shorter than the {HEADER_BYTES}-byte header")
    magic, version, n_layers, dtype, *rest = _HEADER.unpack_from(blob)
    padded, reserved, count = rest[:5], rest[5], rest[6]
    if magic != MAGIC:
        raise BlobError("ODL_ERR_BLOB_MAGIC", f"magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION or dtype != 0:
        raise BlobError("ODL_ERR_BLOB_VERSION",
                        f"format version {version} dtype {dtype}, expected {VERSION} and 0")
    valid = 1 <= n_layers <= MAX_LAYERS
    if not valid or any(padded[n_layers + 1 :]) or not all(padded[: n_layers + 1]):
        raise BlobError("ODL_ERR_BLOB_ARCH", f"invalid architecture n_layers={n_layers} sizes={padded}")
    sizes = tuple(padded[: n_layers + 1])
    if reserved != 0 or count != param_count(sizes):
        raise BlobError("ODL_ERR_BLOB_SIZE",
                        f"header says {count} parameters, sizes {sizes} need {param_count(sizes)}")
    return sizes, blob_size(sizes)


def read_blob(blob: bytes, expect_sizes: tuple[int, ...] | None = None) -> tuple[tuple[int, ...], np.ndarray]:
    """(sizes, flat float32 parameters) of a checked blob."""
    sizes, total = parse_header(blob)
    if expect_sizes is not None and tuple(expect_sizes) != sizes:
        raise BlobError("ODL_ERR_BLOB_ARCH",
                        f"blob is for sizes {sizes}, the model has {tuple(expect_sizes)}")
    if len(blob) != total:
        raise BlobError("ODL_ERR_BLOB_SIZE", f"{len(blob)} bytes, the header says {total}")
    (crc,) = struct.unpack_from("<I", blob, total - CRC_BYTES)
    if zlib.crc32(blob[: total - CRC_BYTES]) != crc:
        raise BlobError("ODL_ERR_BLOB_CRC", "checksum mismatch")
    raw = np.frombuffer(blob, dtype="<f4", count=param_count(sizes), offset=HEADER_BYTES)
    params = raw.astype(np.float32)
    if not np.all(np.isfinite(params)):
        raise BlobError("ODL_ERR_NONFINITE", "NaN or Inf among the parameters")
    return sizes, params
