"""The weight blob: one byte layout written and read by C and Python alike."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil_service.native_core import CoreError, NativeModel
from hil_service.reference import Arch, BlobError, Mlp, read_blob, write_blob
from hil_service.reference.blob import HEADER_BYTES, blob_size

ARCH = Arch((64, 32, 10))


def test_layout_matches_the_documented_table():
    t = Mlp(ARCH).init_weights(3)
    blob = t.to_blob()
    assert blob[:4] == b"ODLW"
    assert struct.unpack_from("<HBB5HHI", blob, 4) == (1, 2, 0, 64, 32, 10, 0, 0, 0, ARCH.n_params)
    assert len(blob) == 24 + 4 * ARCH.n_params + 4 == blob_size(ARCH.sizes)
    first_w = struct.unpack_from("<f", blob, 24)[0]
    assert first_w == t.layers[0].w[0, 0]
    last_b = struct.unpack_from("<f", blob, len(blob) - 8)[0]
    assert last_b == t.layers[1].b[-1]
    assert struct.unpack_from("<I", blob, len(blob) - 4)[0] == zlib.crc32(blob[:-4])


def test_crc_is_the_zlib_crc(core):
    for data in (b"", b"123456789", bytes(range(256)) * 3):
        assert core.crc32(data) == zlib.crc32(data)


def test_python_blob_loads_into_c_and_back(core):
    t = Mlp(ARCH).init_weights(9)
    t.set_params(np.random.default_rng(0).normal(size=ARCH.n_params).astype(np.float32))
    c = NativeModel(core, ARCH)
    c.load_blob(t.to_blob())
    assert c.to_blob() == t.to_blob()
    np.testing.assert_array_equal(Mlp.from_blob(c.to_blob()).get_params(), t.get_params())


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda b: b"XDLW" + b[4:], "ODL_ERR_BLOB_MAGIC"),
        (lambda b: b[:4] + b"\x02\x00" + b[6:], "ODL_ERR_BLOB_VERSION"),
        (lambda b: b[:-1], "ODL_ERR_BLOB_SIZE"),
        (lambda b: b + b"\x00", "ODL_ERR_BLOB_SIZE"),
        (lambda b: b[:100] + bytes([b[100] ^ 0x40]) + b[101:], "ODL_ERR_BLOB_CRC"),
        (lambda b: Mlp(Arch((64, 16, 10))).init_weights(1).to_blob(), "ODL_ERR_BLOB_ARCH"),
    ],
    ids=["magic", "version", "short", "long", "crc", "other-arch"],
)
def test_both_sides_refuse_a_bad_blob_with_the_same_code(core, mutate, code):
    good = Mlp(ARCH).init_weights(2).to_blob()
    bad = mutate(good)
    c = NativeModel(core, ARCH).init_weights(5)
    before = c.to_blob()
    with pytest.raises(CoreError) as err:
        c.load_blob(bad)
    assert err.value.name == code
    assert c.to_blob() == before  # nothing changed
    with pytest.raises(BlobError) as perr:
        read_blob(bad, expect_sizes=ARCH.sizes)
    assert perr.value.code == code


def test_nonfinite_weights_are_refused_even_with_a_valid_checksum(core):
    params = Mlp(ARCH).init_weights(2).get_params()
    params[17] = np.inf
    blob = write_blob(ARCH.sizes, params)
    with pytest.raises(CoreError, match="ODL_ERR_NONFINITE"):
        NativeModel(core, ARCH).load_blob(blob)
    with pytest.raises(BlobError, match="ODL_ERR_NONFINITE"):
        read_blob(blob)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_is_always_refused(core, data):
    small = Arch((8, 6, 3))
    good = Mlp(small).init_weights(4).to_blob()
    kind = data.draw(st.sampled_from(["flip", "truncate", "garbage"]))
    if kind == "flip":
        pos = data.draw(st.integers(0, len(good) - 1))
        bit = data.draw(st.integers(0, 7))
        bad = good[:pos] + bytes([good[pos] ^ (1 << bit)]) + good[pos + 1 :]
    elif kind == "truncate":
        bad = good[: data.draw(st.integers(0, len(good) - 1))]
    else:
        bad = data.draw(st.binary(min_size=0, max_size=len(good) + 8))
    c = NativeModel(core, small).init_weights(1)
    before = c.to_blob()
    with pytest.raises(CoreError):
        c.load_blob(bad)
    assert c.to_blob() == before
    with pytest.raises(BlobError):
        read_blob(bad, expect_sizes=small.sizes)


def test_header_only_parse_reports_sizes():
    from hil_service.reference.blob import parse_header

    blob = Mlp(Arch((784, 32, 16, 10))).to_blob()
    assert parse_header(blob[:HEADER_BYTES]) == ((784, 32, 16, 10), len(blob))
