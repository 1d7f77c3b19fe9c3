import functools
import re
import struct
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
from hyp import examples
from hypothesis import given, settings, strategies as st

from inq_layer import quantize_blob
from inq_layer.errors import InqError
from inq_layer.deploy.inq_format import (HEADER, Entry, _check_holdable, _entropy_coded, decode_codes, deserialize,
                                  encode_codes, pack, serialize, unpack)


@settings(max_examples=examples(100), deadline=None)
@given(st.integers(2, 8), st.integers(0, 300), st.integers(0, 99))
def test_pack_unpack(bits, n, seed):
    codes = np.random.default_rng(seed).integers(0, 2 ** bits, n).astype(np.uint8)
    data = pack(codes, bits)
    assert len(data) == (n * bits + 7) // 8
    assert np.array_equal(unpack(data, n, bits), codes)


def test_pack_is_lsb_first():
    assert pack(np.array([1, 2, 3], np.uint8), 3) == bytes([0b11010001, 0b0])  # 001, 010, 011 -> bits 1,0,0,0,1,0,1,1,0


def entries(bits, seed=0):
    rng = np.random.default_rng(seed)
    w = quantize_blob(rng.normal(0, 0.05, (20, 30)).astype(np.float32), 1.0, bits).quantized
    n1 = int(np.log2(np.abs(w).max()))
    return [Entry("conv1", 0, w, True, n1), Entry("conv1", 1, rng.normal(size=20).astype(np.float32), False),
            Entry("bn", 2, np.array([3.5], np.float32), False)]


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
def test_round_trip_bit_identical(bits):
    es = entries(bits)
    got_bits, back = deserialize(serialize(es, bits))
    assert got_bits == bits and len(back) == 3
    for a, b in zip(es, back):
        assert (a.layer, a.index, a.coded, a.array.shape) == (b.layer, b.index, b.coded, b.array.shape)
        assert np.array_equal(a.array.view(np.uint32), b.array.view(np.uint32))


def test_refuses_values_off_the_grid():
    with pytest.raises(ValueError):
        serialize([Entry("fc", 0, np.array([0.3, 0.5], np.float32), True, -1)], 5)
    with pytest.raises(ValueError):
        serialize([Entry("fc", 0, np.array([2 ** -9, 0.5], np.float32), True, -1)], 5)  # below n2 = -8


def test_corrupt_and_truncated_files_rejected():
    data = serialize(entries(5), 5)
    bad = bytearray(data)
    bad[HEADER.size + 40] ^= 0xFF
    with pytest.raises(InqError, match="checksum"):
        deserialize(bytes(bad), "m.inq")
    with pytest.raises(InqError, match="truncated"):
        deserialize(data[: len(data) - 7], "m.inq")
    with pytest.raises(InqError, match="truncated"):
        deserialize(data[:10], "m.inq")
    with pytest.raises(InqError, match="magic"):
        deserialize(b"NOTINQ!!" + data[8:], "m.inq")
    with pytest.raises(InqError, match="version"):
        deserialize(data[:8] + struct.pack("<H", 9) + data[10:], "m.inq")
    # a consistent header (right CRC) around an entry that claims more data than there is
    payload = data[HEADER.size:]
    short = payload[:60]
    head = HEADER.pack(b"INQMODEL", 3, 5, 0, 3, len(short), zlib.crc32(short))
    with pytest.raises(InqError, match="m.inq"):
        deserialize(head + short, "m.inq")
    # invalid code: magnitude field above 2^(bits-2)
    one = serialize([Entry("fc", 0, np.array([0.5], np.float32), True, -1)], 5)
    p = bytearray(one[HEADER.size:])
    p[-1] = 0b01111  # magnitude 15 > 8
    head = HEADER.pack(b"INQMODEL", 3, 5, 0, 1, len(p), zlib.crc32(bytes(p)))
    with pytest.raises(InqError, match="invalid code"):
        deserialize(head + bytes(p), "m.inq")


@pytest.mark.parametrize("bits", [2, 3, 5, 7, 8])
def test_pack_unpack_across_chunks(bits, monkeypatch):
    from inq_layer.deploy import inq_format
    monkeypatch.setattr(inq_format, "_CHUNK", 16)  # the 4M-code steps of big blobs, in small
    codes = np.random.default_rng(bits).integers(0, 2 ** bits, 16 * 5 + 3).astype(np.uint8)
    data = pack(codes, bits)
    monkeypatch.undo()
    assert data == pack(codes, bits)  # the same stream whatever the step
    monkeypatch.setattr(inq_format, "_CHUNK", 16)
    assert np.array_equal(unpack(data, codes.size, bits), codes)


def test_codes_in_the_file_match_the_format_doc_example():
    """docs/FORMAT.md's example, byte for byte: a round trip alone would not notice a code
    mapping that encode and decode both got wrong the same way."""
    import os
    import re
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "FORMAT.md")).read()
    m = re.search(r"Example, (\d) bits, n1 = (-?\d+): (.*)", doc)
    bits, n1 = int(m.group(1)), int(m.group(2))
    pairs = re.findall(r"`(0b[01]+|0)` = ([+-]?2\^-?\d+|[+-]?[\d.]+)", m.group(3))
    assert len(pairs) == 4

    def value(text):
        sign = -1.0 if text.startswith("-") else 1.0
        t = text.lstrip("+-")
        return sign * (2.0 ** int(t[2:]) if t.startswith("2^") else float(t))
    codes = [int(c, 2) if c != "0" else 0 for c, _ in pairs]
    w = np.array([value(v) for _, v in pairs], np.float32)
    data = serialize([Entry("x", 0, w, True, n1)], bits)
    stream = sum(c << (i * bits) for i, c in enumerate(codes))
    expect = stream.to_bytes((len(codes) * bits + 7) // 8, "little")
    assert data[-len(expect):] == expect
    assert struct.unpack_from("<h", data, len(data) - len(expect) - 2)[0] == n1
    assert np.array_equal(deserialize(data)[1][0].array, w)


def sparse_entries(bits, n=20000, zero=0.9, seed=3):
    rng = np.random.default_rng(seed)
    w = quantize_blob(rng.normal(0, 0.05, n).astype(np.float32), 1.0, bits).quantized
    w[rng.random(n) < zero] = 0
    n1 = int(np.log2(np.abs(w).max()))
    return [Entry("ip1", 0, w, True, n1), Entry("ip1", 1, rng.normal(size=7).astype(np.float32), False)]


@pytest.mark.parametrize("bits", [2, 3, 5, 8])
def test_sparse_blobs_are_entropy_coded_and_come_back_bit_identical(bits):
    es = sparse_entries(bits)
    data = serialize(es, bits)
    assert es[0].stored == "entropy" and es[0].nbytes < (es[0].array.size * bits + 7) // 8 / 2
    _, back = deserialize(data)
    assert all(np.array_equal(a.array.view(np.uint32), b.array.view(np.uint32)) for a, b in zip(es, back))


def test_small_blobs_stay_packed_when_that_is_smaller():
    es = sparse_entries(5, n=40, zero=0.0)  # the coder's table alone outweighs 25 bytes of codes
    serialize(es, 5)
    assert es[0].stored == "packed" and es[0].nbytes == 1 + 2 + (40 * 5 + 7) // 8  # bits, n1, codes


def _legacy_file(es, bits: int, version: int) -> bytes:
    """A version 1 or 2 file of packed and float entries (no per-entry bits), written by hand
    from docs/FORMAT.md."""
    parts = []
    for e in es:
        head = struct.pack("<BH", 1 if e.coded else 2, len(e.layer)) + e.layer.encode() + struct.pack(
            f"<HB{e.array.ndim}I", e.index, e.array.ndim, *e.array.shape)
        body = (struct.pack("<h", e.n1) + pack(encode_codes(e.array, e.n1, bits), bits) if e.coded
                else e.array.astype("<f4").tobytes())
        parts.append(head + body)
    payload = b"".join(parts)
    return HEADER.pack(b"INQMODEL", version, bits, 0, len(es), len(payload), zlib.crc32(payload)) + payload


@pytest.mark.parametrize("version", [1, 2])
def test_version_1_and_2_files_still_load(version):
    es = entries(5)
    got_bits, back = deserialize(_legacy_file(es, 5, version), "old.inq")
    assert got_bits == 5 and [b.bits for b in back] == [5, None, None]  # coded entries at the header's bits
    assert all(np.array_equal(a.array.view(np.uint32), b.array.view(np.uint32)) for a, b in zip(es, back))


def test_version_1_refuses_entropy_coded_entries():
    sp = serialize(sparse_entries(5), 5)
    p = sp[HEADER.size:]
    with pytest.raises(InqError, match="unknown entry kind 3"):
        deserialize(HEADER.pack(b"INQMODEL", 1, 5, 0, 2, len(p), zlib.crc32(p)) + p, "old.inq")


def test_each_entry_keeps_its_own_bits():
    """Version 3: layers at their own bit widths in one file, each read back on its grid."""
    rng = np.random.default_rng(4)
    es = []
    for i, b in enumerate((8, 2, 5)):
        w = quantize_blob(rng.normal(0, 0.05, 3000).astype(np.float32), 1.0, b).quantized
        es.append(Entry(f"l{i}", 0, w, True, int(np.log2(np.abs(w).max())), bits=b))
    data = serialize(es, 2)
    got_bits, back = deserialize(data)
    assert got_bits == 2 and [e.bits for e in back] == [8, 2, 5]
    assert all(np.array_equal(a.array.view(np.uint32), b.array.view(np.uint32)) for a, b in zip(es, back))
    with pytest.raises(ValueError, match="not 0 or"):  # an 8-bit grid's values at the file's 2 bits
        serialize([Entry("l0", 0, es[0].array, True, es[0].n1)], 2)
    e = [Entry("l0", 0, es[0].array, True, es[0].n1, bits=8)]
    payload = bytearray(serialize(e, 2)[HEADER.size:])
    at = 3 + 2 + 3 + 4  # kind, name "l0", index, ndim, one dimension: then the entry's bits
    assert payload[at] == 8
    payload[at] = 9
    with pytest.raises(InqError, match=r"^x\.inq: entry 'l0': bits = 9 is outside 2\.\.8$"):
        deserialize(_with_payload(serialize(e, 2), bytes(payload)), "x.inq")


@functools.lru_cache(maxsize=None)
def _sparse_file(seed: int) -> bytes:
    return serialize(sparse_entries(4, n=3000, seed=seed), 4)


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.booleans())
def test_fuzz_random_corruptions_are_refused_never_misread(seed, fix_crc):
    """Random byte damage to a file with an entropy-coded blob: refused with an InqError
    (the CRC, or the decoder's own checks when the CRC is made to match), or, only when
    the damage left the data unchanged in meaning, read back to identical weights."""
    data = bytearray(_sparse_file(seed % 7))
    rng = np.random.default_rng(seed)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(HEADER.size, len(data)))
        data[i] ^= int(rng.integers(1, 256))
    if fix_crc:
        payload = bytes(data[HEADER.size:])
        data[:HEADER.size] = HEADER.pack(b"INQMODEL", 2, 4, 0, 2, len(payload), zlib.crc32(payload))
    try:
        deserialize(bytes(data), "fuzz.inq")
    except InqError:
        return
    assert fix_crc  # with the stored CRC, any damage must be caught


def test_encode_codes_names_the_first_value_off_the_grid():
    for w, n1, bits, msg in (([0.5, 0.3, 0.7], 0, 5, "value 0.3 is not 0 or +-2^k with -7 <= k <= 0"),
                             ([2.0 ** -9, 0.25], -1, 4, "value 0.001953125 is not 0 or +-2^k with -4 <= k <= -1"),
                             ([0.0, 2.0], 0, 3, "value 2.0 is not 0 or +-2^k with -1 <= k <= 0")):
        with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
            encode_codes(np.array(w, np.float32), n1, bits)


def test_decode_codes_refuses_codes_and_grids_that_no_encoder_makes():
    ok = decode_codes(np.array([0, 1, 8, 16 + 1, 16 + 8], np.uint8), 0, 5, "fc6")
    assert ok.tolist() == [0.0, 1.0, 2.0 ** -7, -1.0, -(2.0 ** -7)]
    for code, bits in ((16, 5), (9, 5), (4, 3), (2, 2)):  # "-0", or m above 2^(bits-2)
        with pytest.raises(InqError, match=rf"^fc6: invalid code {code} for {bits} bits$"):
            decode_codes(np.array([1, code], np.uint8), 0, bits, "fc6")
    assert decode_codes(np.array([1], np.uint8), 127, 5, "x").tolist() == [2.0 ** 127]
    assert decode_codes(np.array([8], np.uint8), -119, 5, "x").tolist() == [2.0 ** -126]
    with pytest.raises(InqError, match=r"^conv1: n1 = 128 is outside the float32 range$"):
        decode_codes(np.array([1], np.uint8), 128, 5, "conv1")
    assert decode_codes(np.array([8], np.uint8), -120, 5, "x").tolist() == [2.0 ** -127]  # a subnormal
    assert decode_codes(np.zeros(0, np.uint8), 500, 5, "x").size == 0  # no weights: nothing to check


def _with_payload(data: bytes, payload: bytes, **head) -> bytes:
    """`data` with another payload (length and CRC made to match) and header fields."""
    magic, version, bits, reserved, n, _, _ = HEADER.unpack_from(data)
    f = {**dict(magic=magic, version=version, bits=bits, reserved=reserved, n=n), **head}
    return HEADER.pack(f["magic"], f["version"], f["bits"], f["reserved"], f["n"], len(payload),
                       zlib.crc32(payload)) + payload


def _sparse(n: int = 8192) -> np.ndarray:
    w = np.zeros(n, np.float32)
    w[::7] = 0.25
    w[::11] = -0.5
    return w


def test_deserialize_names_each_defect():
    good = serialize([Entry("fc", 0, _sparse(), True, -1)], 5)
    bits, (e,) = deserialize(good)
    assert bits == 5 and e.array.tolist() == _sparse().tolist()
    assert good[11] == 0  # the reserved header byte (docs/FORMAT.md)
    assert deserialize(serialize([], 4)) == (4, [])  # a header alone is a whole (empty) file
    payload = good[HEADER.size:]
    cases = {
        good[:HEADER.size - 1]: f"truncated ({HEADER.size - 1} bytes, the header alone is {HEADER.size})",
        b"NOTANINQ" + good[8:]: "not an .inq file (bad magic)",
        _with_payload(good, payload, version=9): "format version 9, this tool reads versions 1, 2, 3, 4",
        _with_payload(good, payload, bits=9): "bits = 9 in the header is outside 2..8",
        _with_payload(good, payload, bits=1): "bits = 1 in the header is outside 2..8",
        good + b"\0": f"payload is {len(payload) + 1} bytes, the header says {len(payload)} (truncated or padded)",
    }
    for data, msg in cases.items():
        with pytest.raises(InqError, match=f"^{re.escape('x.inq: ' + msg)}$"):
            deserialize(data, "x.inq")
    with pytest.raises(InqError, match=r"^\.inq file: not an \.inq file"):  # the default name
        deserialize(b"NOTANINQ" + good[8:])


def test_deserialize_names_each_entropy_coding_defect(monkeypatch):
    good = serialize([Entry("fc", 0, _sparse(), True, -1)], 5)
    e = deserialize(good)[1][0]
    assert serialize([e], 5) == good  # an entropy-coded entry that ends the file reads back
    payload = bytearray(good[HEADER.size:])
    at = 3 + len("fc") + 3 + 4 + 1  # kind, name, index, ndim, one dimension, bits: then n1, prob bits, lanes
    n1, prob_bits, lanes = struct.unpack_from("<hBI", payload, at)
    assert (n1, prob_bits) == (-1, 15) and lanes == 8192 // 2048
    where = "x.inq: entry 'fc': "

    def refused(p: bytes, msg: str) -> None:
        with pytest.raises(InqError, match=f"^{re.escape(where + msg)}"):
            deserialize(_with_payload(good, bytes(p)), "x.inq")

    for pb, ln in ((14, lanes), (15, 0), (15, 1 << 16 | 1)):
        p = bytearray(payload)
        struct.pack_into("<BI", p, at + 2, pb, ln)
        refused(p, f"bad entropy-coding parameters ({pb} probability bits, {ln} lanes)")
    words_at = at + 7 + 2 * 32 + 4 * lanes
    (nwords,) = struct.unpack_from("<I", payload, words_at)
    assert words_at + 4 + 2 * nwords == len(payload)  # the words end the file
    p = bytearray(payload)
    struct.pack_into("<I", p, words_at, nwords + 1)
    refused(p, "runs past the end")
    p = bytearray(payload)
    struct.pack_into("<I", p, at + 7 + 2 * 32, 1)  # a lane state below the range
    refused(p, "entropy-coded data do not decode (a lane's state is out of range)")
    # As many lanes as the format allows are read (a smaller limit stands in for 2^16).
    from inq_layer.deploy import rans
    monkeypatch.setattr(rans, "MAX_LANES", 4)
    assert deserialize(good)[1][0].array.tolist() == _sparse().tolist()


def test_deserialize_names_each_entry_defect():
    """Packed (kind 1) and float (kind 2) entries, crafted with a valid CRC."""
    w = np.array([0.5, -0.25, 0.0, 0.125], np.float32)
    f = np.array([1.5, -2.0], np.float32)
    good = serialize([Entry("c", 0, w, True, -1), Entry("f", 1, f, False)], 5)
    _, (ec, ef) = deserialize(good)
    assert ec.array.tolist() == w.tolist() and ef.array.tolist() == f.tolist()
    payload = good[HEADER.size:]
    packed_at = 3 + 1 + 3 + 4 + 1  # kind, name "c", index, ndim, one dimension, bits
    float_at = packed_at + 2 + 3  # n1, 4 codes of 5 bits
    assert payload[float_at] == 2 and payload[0] == 1
    cases = {
        payload[:float_at - 1]: "x.inq: entry 'c' runs past the end",
        payload[:-1]: "x.inq: entry 'f' runs past the end",
        payload + b"\0\0": "x.inq: 2 unexplained bytes after the last entry",
        bytes([7]) + payload[1:]: "x.inq: unknown entry kind 7",
        payload[:packed_at] + struct.pack("<h", 200) + payload[packed_at + 2:]:
            "x.inq: c: n1 = 200 is outside the float32 range",
        payload[:1] + struct.pack("<H", 9) + payload[3:]: "x.inq: malformed entry (",
    }
    for p, msg in cases.items():
        with pytest.raises(InqError, match=f"^{re.escape(msg)}"):
            deserialize(_with_payload(good, p), "x.inq")
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 1
    with pytest.raises(InqError, match=r"^x\.inq: checksum mismatch \(corrupt file\)$"):
        deserialize(bytes(bad_crc), "x.inq")
    entropy = serialize([Entry("fc", 0, _sparse(), True, -1)], 5)
    p = bytearray(entropy[HEADER.size:])
    struct.pack_into("<h", p, 3 + 2 + 3 + 4 + 1, 200)  # the n1 of an entropy-coded entry, after its bits
    with pytest.raises(InqError, match=r"^x\.inq: fc: n1 = 200 is outside the float32 range$"):
        deserialize(_with_payload(entropy, bytes(p)), "x.inq")


def _virtual(n: int) -> np.ndarray:
    """A float32 vector of n elements that takes no memory (one element, stride 0)."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (n,), (0,))


def test_serialize_refuses_what_the_format_cannot_hold():
    """Each field's limit (docs/FORMAT.md) holds its largest value and refuses the next one."""
    w = np.array([0.5], np.float32)
    for e in (Entry("x" * 0xFFFF, 0, w, False), Entry("c", 0xFFFF, w, False), Entry("c", 0, w, True, -1)):
        assert serialize([e], 5)  # the largest name and index fit
    for e in (Entry("c", 0, w, True, -0x8000), Entry("c", 0, w, True, 0x7FFF),
              Entry("c", 0, _virtual(0xFFFFFFFF), False),
              Entry("c", 0, SimpleNamespace(ndim=255, shape=(1,) * 255), False)):  # no numpy array has 255
        _check_holdable(e, b"c")
    where = "layer 'c' blob 0: "
    cases = ((Entry("x" * 0x10000, 0, w, False),
              "layer '" + "x" * 0x10000 + "' blob 0: the name is 65,536 bytes, the format holds at most 65,535"),
             (Entry("c", 0x10000, w, False), "layer 'c' blob 65536: blob index 65536 is outside the format's 0..65535"),
             (Entry("c", -1, w, False), "layer 'c' blob -1: blob index -1 is outside the format's 0..65535"),
             (Entry("c", 0, _virtual(1 << 32), False),
              where + "shape (4294967296,) does not fit the format (at most 255 dimensions below 2^32)"),
             (Entry("c", 0, SimpleNamespace(ndim=256, shape=(1,) * 256), False),
              where + f"shape {(1,) * 256} does not fit the format (at most 255 dimensions below 2^32)"),
             (Entry("c", 0, w, True, None), where + "n1 = None does not fit the format's i16"),
             (Entry("c", 0, w, True, -0x8001), where + "n1 = -32769 does not fit the format's i16"),
             (Entry("c", 0, w, True, 0x8000), where + "n1 = 32768 does not fit the format's i16"))
    for e, msg in cases:
        with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
            _check_holdable(e, e.layer.encode())
    with pytest.raises(ValueError, match="blob index 65536"):
        serialize([Entry("c", 0, w, False), Entry("c", 0x10000, w, False)], 5)  # checked in serialize


def test_each_entry_says_how_it_was_stored():
    es = [Entry("c", 0, np.zeros(0, np.float32), True, -1), Entry("f", 0, np.ones(3, np.float32), False)]
    data = serialize(es, 4)
    assert [(e.stored, e.nbytes) for e in es] == [("packed", 1 + 2), ("float32", 12)]  # bits, n1; 3 floats
    _, back = deserialize(data)
    assert back[0].array.shape == (0,) and back[1].array.tolist() == [1.0, 1.0, 1.0]


def test_a_tie_in_size_stays_packed():
    """Entropy coding only when strictly smaller: on a tie the packed form is the plainer one."""
    w = np.zeros(156, np.float32)
    w[::2] = 0.5
    codes = encode_codes(w, -1, 2)
    assert len(_entropy_coded(codes, -1, 2)) == 2 + (156 * 2 + 7) // 8  # n1 and codes: a tie
    es = [Entry("c", 0, w, True, -1)]
    serialize(es, 2)
    assert es[0].stored == "packed"


def test_version_2_files_with_entropy_coded_entries_load():
    """Version 2 had kind 3 but no per-entry bits byte: drop it from a version 3 file."""
    es = sparse_entries(5)
    payload = serialize(es, 5)[HEADER.size:]
    at = 3 + len("ip1") + 3 + 4  # kind, name, index, ndim, one dimension: then the bits byte
    assert payload[0] == 3 and payload[at] == 5
    p = payload[:at] + payload[at + 1:]
    _, back = deserialize(HEADER.pack(b"INQMODEL", 2, 5, 0, 2, len(p), zlib.crc32(p)) + p, "old.inq")
    assert all(np.array_equal(a.array.view(np.uint32), b.array.view(np.uint32)) for a, b in zip(es, back))


def test_check_sees_every_declared_shape_before_decoding():
    data = serialize(entries(5), 5)
    seen = []
    bits, back = deserialize(data, "x.inq", check=lambda heads: seen.extend((h.layer, h.shape) for h in heads))
    assert seen == [(e.layer, e.array.shape) for e in back]

    def refuse(heads):
        raise InqError("x.inq: does not fit the net")
    with pytest.raises(InqError, match="does not fit the net"):
        deserialize(data, "x.inq", check=refuse)
    # An entry whose data would not decode (its n1 is off float32's range): the check comes first.
    good = serialize([Entry("c", 0, np.array([0.5, -0.25], np.float32), True, -1)], 5)
    p = bytearray(good[HEADER.size:])
    struct.pack_into("<h", p, 3 + 1 + 3 + 4 + 1, 200)  # kind, name "c", index, ndim, one dimension, bits: n1
    with pytest.raises(InqError, match="n1 = 200"):
        deserialize(_with_payload(good, bytes(p)), "x.inq")
    with pytest.raises(InqError, match="does not fit the net"):
        deserialize(_with_payload(good, bytes(p)), "x.inq", check=refuse)


def test_a_code_with_the_whole_probability_range_is_refused():
    good = serialize([Entry("fc", 0, _sparse(), True, -1)], 5)
    p = bytearray(good[HEADER.size:])
    freqs_at = 3 + 2 + 3 + 4 + 1 + 2 + 5  # kind, name, index, ndim, one dimension, bits, n1, prob bits, lanes
    freqs = np.zeros(32, "<u2")
    freqs[0] = 1 << 15  # the whole range at 15 probability bits
    p[freqs_at:freqs_at + 64] = freqs.tobytes()
    with pytest.raises(InqError, match=re.escape("x.inq: entry 'fc': a code has the whole probability range "
                                                 "(no encoder writes that)") + "$"):
        deserialize(_with_payload(good, bytes(p)), "x.inq")


def test_version_4_holds_the_activation_quantizers():
    from inq_layer.deploy.inq_format import Quantizer, read_quantizers
    qs = [Quantizer("data_q", 8, 8, False), Quantizer("conv1_q", 4, -3, True)]
    w = np.array([0.5, 0, -0.25, 0.125], np.float32)
    data = serialize([Entry("conv1", 0, w, True, -1, bits=4), Entry("conv1", 1, np.ones(2, np.float32), False)],
                     4, qs)
    assert HEADER.unpack_from(data)[1] == 4 and HEADER.unpack_from(data)[4] == 4  # 2 blobs, 2 quantizers
    assert read_quantizers(data) == qs
    _, entries = deserialize(data)  # the blobs alone
    assert [(e.layer, e.index) for e in entries] == [("conv1", 0), ("conv1", 1)]
    assert np.array_equal(entries[0].array, w)
    no_q = serialize([Entry("conv1", 0, w, True, -1, bits=4)], 4)
    assert read_quantizers(no_q) == []


def test_a_quantizer_entry_that_lies_is_refused():
    from inq_layer.deploy.inq_format import Quantizer
    good = serialize([], 4, [Quantizer("q", 8, 2, False)])
    payload = good[HEADER.size:]
    at = len(payload) - 4  # u8 bits, i16 f, u8 signed
    for patch, msg in ((bytes([1]) + payload[at + 1:], "not an activation quantizer"),
                       (payload[at:at + 3] + bytes([2]), "not an activation quantizer")):
        with pytest.raises(InqError, match=msg):
            deserialize(_with_payload(good, payload[:at] + patch), "x.inq")
    with pytest.raises(InqError, match="unknown entry kind 4"):  # a version 3 file has no quantizers
        deserialize(_with_payload(good, payload, version=3), "x.inq")
    with pytest.raises(ValueError, match="does not fit the format"):
        serialize([], 4, [Quantizer("q", 17, 2, False)])


def test_dims_whose_product_overflows_are_refused_exactly():
    """Dims of 2^32-1 each: their product wraps in int64 (to a negative size, once); read
    exactly, it is more than a Caffe blob holds."""
    good = serialize([Entry("a", 0, np.ones(4, np.float32), False)], 4)
    payload = good[HEADER.size:]
    name_end = 3 + 1
    for dims in ([2**32 - 1] * 3, [2**31, 2**31, 4], [2**32 - 1, 2**32 - 1]):
        head = payload[:name_end] + struct.pack(f"<HB{len(dims)}I", 0, len(dims), *dims)
        with pytest.raises(InqError, match="more than a Caffe blob holds"):
            deserialize(_with_payload(good, head + payload[name_end + 3 + 4:]), "x.inq")


def test_an_entry_count_beyond_the_file_is_refused():
    good = serialize([Entry("a", 0, np.ones(4, np.float32), False)], 4)
    with pytest.raises(InqError, match="declares 4,000,000,000 entries, more than its"):
        deserialize(_with_payload(good, good[HEADER.size:], n=4_000_000_000), "x.inq")


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(0, 200), st.integers(0, 3))
def test_fuzzed_payloads_with_a_good_checksum_are_refused_in_one_line(junk, at, version_delta):
    """Bytes spliced into a valid file, the checksum made to match: the reader answers with
    an InqError or the entries, never another exception, and never decodes more than the
    file could hold."""
    from inq_layer.deploy.inq_format import Quantizer, read_quantizers
    good = serialize([Entry("conv", 0, np.array([0.5, 0, -0.25, 0.125], np.float32), True, -1, bits=4),
                      Entry("conv", 1, np.ones(3, np.float32), False)], 4, [Quantizer("q", 8, 3, False)])
    payload = good[HEADER.size:]
    at = min(at, len(payload))
    bad = _with_payload(good, payload[:at] + junk + payload[at + len(junk):], version=4 - version_delta)
    for read in (lambda: deserialize(bad, "x.inq"), lambda: read_quantizers(bad, "x.inq")):
        try:
            read()
        except InqError:
            pass


def _quantizer_file(name: str = "q", bits: int = 8, f: int = 2, signed: int = 0, index: int = 0,
                    ndim: int = 0) -> bytes:
    """A version 4 file holding one quantizer entry, its fields written as given."""
    good = serialize([], 4)
    name_b = name.encode()
    payload = struct.pack("<BH", 4, len(name_b)) + name_b + struct.pack("<HB", index, ndim) + \
        struct.pack(f"<{ndim}I", *[1] * ndim) + struct.pack("<BhB", bits, f, signed)
    return _with_payload(good, payload, n=1)


def test_quantizer_fields_at_the_edges_of_the_format():
    """bits 2..16, f in i16, a name below 64 KiB: written and read back; one past each edge
    is refused with the quantizer named, on both sides."""
    from inq_layer.deploy.inq_format import Quantizer, read_quantizers
    edges = [Quantizer("a" * 0xFFFF, 2, -0x8000, True), Quantizer("b", 16, 0x7FFF, False)]
    assert read_quantizers(serialize([], 4, edges)) == edges
    for q in (Quantizer("x", 1, 0, False), Quantizer("x", 17, 0, False), Quantizer("x", 8, -0x8001, False),
              Quantizer("x", 8, 0x8000, False), Quantizer("x" * 0x10000, 8, 0, False)):
        with pytest.raises(ValueError) as e:
            serialize([], 4, [q])
        assert str(e.value) == f"quantizer {q.name!r}: does not fit the format (bits {q.bits}, f {q.f})"
    for bits in (2, 16):
        assert read_quantizers(_quantizer_file(bits=bits)) == [Quantizer("q", bits, 2, False)]
    for fields, shown in ((dict(bits=1), "bits 1, signed 0, index 0, 0 dims"),
                          (dict(bits=17), "bits 17, signed 0, index 0, 0 dims"),
                          (dict(signed=2), "bits 8, signed 2, index 0, 0 dims"),
                          (dict(index=1), "bits 8, signed 0, index 1, 0 dims"),
                          (dict(ndim=1), "bits 8, signed 0, index 0, 1 dims")):
        with pytest.raises(InqError) as e:
            read_quantizers(_quantizer_file(**fields))
        assert str(e.value) == f".inq file: entry 'q': not an activation quantizer ({shown})"


def test_a_quantizer_is_a_value():
    import dataclasses
    from inq_layer.deploy.inq_format import Quantizer
    q = Quantizer("q", 8, 2, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.f = 3
    assert {q: 1}[Quantizer("q", 8, 2, False)] == 1


def test_a_blob_entry_head_has_no_quantizer_fields():
    from inq_layer.deploy.inq_format import read_layout
    data = serialize([Entry("a", 0, np.ones(4, np.float32), False)], 4)
    (h,) = read_layout(data, "x.inq")[1]
    assert h.n1 is None and h.signed is False


def test_a_blob_of_the_largest_caffe_size_is_declared_without_complaint():
    """2^31 - 1 values is what a Caffe blob holds: the header passes and the missing data is
    what gets refused; one more value is refused as too large."""
    good = serialize([Entry("a", 0, np.ones(4, np.float32), False)], 4)
    payload = good[HEADER.size:]
    name_end = 3 + 1
    for n, msg in ((2**31 - 1, "entry 'a' runs past the end"),
                   (2**31, r"holds 2,147,483,648 values, more than a Caffe blob holds \(2,147,483,647\)")):
        head = payload[:name_end] + struct.pack("<HBI", 0, 1, n)
        with pytest.raises(InqError, match=msg):
            deserialize(_with_payload(good, head + payload[name_end + 3 + 4:]), "x.inq")


def test_the_entry_count_bound_is_six_bytes_an_entry():
    """A payload of 6n bytes may hold n entries (then its entries are read and found short);
    n + 1 is refused before reading any."""
    good = serialize([], 4)
    payload = b"\x02\x00\x00\x00\x00\x00" * 2  # two float entries with empty names, 0 dims
    with pytest.raises(InqError) as e:
        deserialize(_with_payload(good, payload, n=3), "x.inq")
    assert str(e.value) == "x.inq: declares 3 entries, more than its 12-byte payload can hold"
    with pytest.raises(InqError) as e:
        deserialize(_with_payload(good, payload, n=2), "x.inq")
    assert "declares" not in str(e.value)


def test_a_grid_into_the_subnormals_is_written_and_read_back():
    """Weights near 1e-20 at 8 bits: n1 = -67, n2 = -130, below float32's normal range. The
    quantized blob (2^-127 .. 2^-129 are subnormal) is coded, serialized and read back bit
    for bit; a code that would stand for a power below 2^-149 is refused."""
    from inq_layer.core.levels import n1_from_max
    w = np.array([1e-20, 2.0 ** -127, -(2.0 ** -128), 2.0 ** -129, 0, -3e-21], np.float32)
    r = quantize_blob(w, 1.0, 8)
    assert r.n1 == n1_from_max(1e-20) == -67
    q = r.quantized
    sub = q[(q != 0) & (np.abs(q) < 2.0 ** -126)]
    assert sub.size >= 3  # the subnormal levels are used
    _, got = deserialize(serialize([Entry("ip", 0, q, True, r.n1, bits=8)], 8))
    assert np.array_equal(got[0].array.view(np.uint32), q.view(np.uint32))
    assert np.array_equal(decode_codes(encode_codes(q, r.n1, 8), r.n1, 8, "ip").view(np.uint32), q.view(np.uint32))
    tiny = np.array([2.0 ** -149, -(2.0 ** -149)], np.float32)  # the smallest subnormal, n1 = -149
    assert np.array_equal(decode_codes(encode_codes(tiny, -149, 3), -149, 3, "t"), tiny)
    with pytest.raises(InqError, match=r"n1 = -149 with 3-bit codes gives 2\^-150, below float32's smallest power"):
        decode_codes(np.array([2], np.uint8), -149, 3, "t")  # code 2: the grid's second power, 2^-150
    with pytest.raises(ValueError, match="is not 0 or"):
        encode_codes(np.array([3 * 2.0 ** -149], np.float32), -140, 8)  # a subnormal that is no power


def test_zero_codes_under_a_grid_below_float32_decode_to_zeros():
    """Only codes that stand for a power are checked against float32's range: a blob of
    zeros under an n1 whose whole grid lies below 2^-149 decodes to zeros."""
    got = decode_codes(np.zeros(3, np.uint8), -160, 3, "z")
    assert got.tolist() == [0.0, 0.0, 0.0]
    assert decode_codes(np.array([1, 0], np.uint8), -149, 3, "z").tolist() == [2.0 ** -149, 0.0]
