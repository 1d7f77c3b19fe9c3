"""The .inq file: quantized weights as b-bit exponent codes, everything else float32.

Byte layout (all little-endian; docs/FORMAT.md is the reference for other loaders):
header (28 bytes): magic "INQMODEL", u16 version, u8 bits, u8 reserved 0, u32 entry count,
u64 payload length, u32 CRC-32 (zlib/IEEE) of the payload. Payload: the entries, each
  u8 kind (1 packed codes, 2 float32, 3 entropy-coded codes), u16 name length, name (UTF-8),
  u16 blob index, u8 ndim, ndim x u32 dims, then
  kind 1: (version 3) u8 bits, i16 n1, ceil(count * bits / 8) bytes of codes packed LSB first;
  kind 2: count x f32;
  kind 3 (version 2 on): (version 3) u8 bits, i16 n1, u8 probability bits (15), u32 lanes K,
  2^bits x u16 frequencies, K x u32 final rANS states, u32 word count W, W x u16 words (rans.py);
  kind 4 (version 4): an activation quantizer, named by its top blob, blob index 0, ndim 0,
  then u8 bits (2..16), i16 f, u8 signed (0 or 1): its output is q * 2^-f, q a b-bit integer.
Each quantized blob is stored packed or entropy-coded, whichever is smaller. Version 3 gives
each coded entry its own bit width (the header's is the campaign's --bits); versions 1
(kinds 1 and 2 only) and 2 are still read, every coded entry at the header's bits.
Code of a weight: 0 for zero, else (sign << (bits-1)) | (n1 - k + 1) for +-2^k, so the
magnitude field runs 1..2^(bits-2) for k = n1 .. n2.
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import rans
from ..errors import InqError
from ..core.levels import check_bits

MAGIC = b"INQMODEL"
VERSION = 4
READABLE = (1, 2, 3, 4)
HEADER = struct.Struct("<8sHBBIQI")
KIND_CODED, KIND_FLOAT, KIND_RANS, KIND_QUANTIZER = 1, 2, 3, 4
QUANTIZER = struct.Struct("<BhB")
BLOB_MAX = 2**31 - 1  # Caffe counts a blob's values in an int
_CHUNK = 1 << 22  # codes per step: a multiple of 8, so a whole number of bytes


@dataclass
class Entry:
    layer: str
    index: int
    array: np.ndarray  # float32
    coded: bool
    n1: int | None = None
    stored: str = ""  # how serialize stored it: "packed", "entropy" or "float32"
    nbytes: int = 0  # bytes of its data in the file (after the name and shape)
    bits: int | None = None  # a coded entry's bit width (None: the file's)


@dataclass(frozen=True)
class Quantizer:
    """An activation quantizer of the model: its top blob's values are q * 2^-f."""
    name: str
    bits: int
    f: int
    signed: bool


def encode_codes(w: np.ndarray, n1: int, bits: int) -> np.ndarray:
    """b-bit codes (uint8) of a blob whose weights are all 0 or +-2^k, n2 <= k <= n1."""
    flat = np.ascontiguousarray(w, np.float32).reshape(-1)
    b = flat.view(np.uint32)
    mag = b & 0x7FFFFFFF
    normal = mag >= 0x800000
    # a subnormal is mag * 2^-149: a power of two when mag is one (frexp finds which)
    k = np.where(normal, (mag >> 23).astype(np.int32) - 127,
                 np.frexp(mag.astype(np.float64))[1].astype(np.int32) - 1 - 149)
    power = np.where(normal, (mag & 0x7FFFFF) == 0, (mag & (mag - 1)) == 0)
    m = n1 - k + 1
    codes = np.where(mag == 0, 0, ((b >> 31).astype(np.int32) << (bits - 1)) | np.clip(m, 0, 127)).astype(np.uint8)
    ok = (mag == 0) | (power & (m >= 1) & (m <= 2 ** (bits - 2)))
    if not ok.all():
        raise ValueError(f"value {flat[~ok][0]!r} is not 0 or +-2^k with {n1 - 2 ** (bits - 2) + 1} <= k <= {n1}")
    return codes


def decode_codes(codes: np.ndarray, n1: int, bits: int, name: str) -> np.ndarray:
    sign = (codes >> (bits - 1)) & 1
    m = (codes & ((1 << (bits - 1)) - 1)).astype(np.int32)
    bad = ((m == 0) & (sign == 1)) | (m > 2 ** (bits - 2))
    if bad.any():
        raise InqError(f"{name}: invalid code {int(codes[bad][0])} for {bits} bits")
    k = n1 - m + 1
    if m.size and n1 > 127:
        raise InqError(f"{name}: n1 = {n1} is outside the float32 range")
    used = k[m != 0]
    if used.size and int(used.min()) < -149:  # subnormals down to 2^-149 are float32 values
        raise InqError(f"{name}: n1 = {n1} with {bits}-bit codes gives 2^{int(used.min())}, below float32's "
                       f"smallest power 2^-149")
    # 2^k as float32 bits: a normal exponent, or below 2^-126 the one subnormal bit
    mag = np.where(k >= -126, (np.clip(k, -126, 127) + 127).astype(np.uint32) << 23,
                   np.uint32(1) << np.clip(k + 149, 0, 22).astype(np.uint32))
    vals = (sign.astype(np.uint32) << 31) | mag
    vals[m == 0] = 0
    return vals.view(np.float32)


def pack(codes: np.ndarray, bits: int) -> bytes:
    """Codes as a bit stream, LSB first: code i holds stream bits i*bits .. i*bits+bits-1."""
    out = []
    for s in range(0, codes.size, _CHUNK):
        c = codes[s:s + _CHUNK]
        bitmat = ((c[:, None] >> np.arange(bits, dtype=np.uint8)) & 1).astype(np.uint8)
        out.append(np.packbits(bitmat.reshape(-1), bitorder="little").tobytes())
    return b"".join(out)


def unpack(data: bytes, count: int, bits: int) -> np.ndarray:
    raw = np.frombuffer(data, np.uint8)
    out = np.empty(count, np.uint8)
    weights = (1 << np.arange(bits, dtype=np.uint16)).astype(np.uint16)
    for s in range(0, count, _CHUNK):
        n = min(_CHUNK, count - s)
        lo = s * bits // 8
        bitv = np.unpackbits(raw[lo: lo + (n * bits + 7) // 8], bitorder="little")[: n * bits]
        out[s:s + n] = (bitv.reshape(n, bits).astype(np.uint16) @ weights).astype(np.uint8)
    return out


def _entropy_coded(codes: np.ndarray, n1: int, bits: int) -> bytes:
    freqs = rans.normalize(np.bincount(codes, minlength=1 << bits))
    lanes = rans.lanes_for(codes.size)
    states, words = rans.encode(codes, freqs, lanes)
    return b"".join([struct.pack("<hBI", n1, rans.PROB_BITS, lanes), freqs.astype("<u2").tobytes(),
                     states.astype("<u4").tobytes(), struct.pack("<I", words.size), words.astype("<u2").tobytes()])


def _coded_data(e: Entry, bits: int) -> tuple[int, bytes]:
    """Kind and data of a quantized blob: packed codes or entropy-coded, the smaller, after
    the entry's bit width."""
    codes = encode_codes(e.array, e.n1, bits)
    head = struct.pack("<B", bits)
    packed = struct.pack("<h", e.n1) + pack(codes, bits)
    if codes.size == 0:
        return KIND_CODED, head + packed
    coded = _entropy_coded(codes, e.n1, bits)
    return (KIND_RANS, head + coded) if len(coded) < len(packed) else (KIND_CODED, head + packed)


def _check_holdable(e: Entry, name: bytes) -> None:
    """What docs/FORMAT.md's fields cannot hold is refused before anything is written."""
    where = f"layer {e.layer!r} blob {e.index}"
    if len(name) > 0xFFFF:
        raise ValueError(f"{where}: the name is {len(name):,} bytes, the format holds at most 65,535")
    if not 0 <= e.index <= 0xFFFF:
        raise ValueError(f"{where}: blob index {e.index} is outside the format's 0..65535")
    if e.array.ndim > 255 or any(d > 0xFFFFFFFF for d in e.array.shape):
        raise ValueError(f"{where}: shape {e.array.shape} does not fit the format (at most 255 dimensions "
                         f"below 2^32)")
    if e.coded and (e.n1 is None or not -0x8000 <= e.n1 <= 0x7FFF):
        raise ValueError(f"{where}: n1 = {e.n1} does not fit the format's i16")


def serialize(entries: list[Entry], bits: int, quantizers: list[Quantizer] = ()) -> bytes:
    """The file's bytes; each entry's `stored` and `nbytes` say how it went in. A coded
    entry is written at its own `bits`, else at the file's; the quantizers follow them."""
    bits = check_bits(bits)
    parts = []
    for q in quantizers:  # checked before anything is written
        if len(q.name.encode()) > 0xFFFF or not 2 <= q.bits <= 16 or not -0x8000 <= q.f <= 0x7FFF:
            raise ValueError(f"quantizer {q.name!r}: does not fit the format (bits {q.bits}, f {q.f})")
    for e in entries:
        name = e.layer.encode()
        shape = e.array.shape
        _check_holdable(e, name)
        if e.coded:
            kind, data = _coded_data(e, check_bits(e.bits if e.bits is not None else bits))
        else:
            kind, data = KIND_FLOAT, np.ascontiguousarray(e.array, "<f4").tobytes()
        e.stored = {KIND_CODED: "packed", KIND_RANS: "entropy", KIND_FLOAT: "float32"}[kind]
        e.nbytes = len(data)
        parts += [struct.pack("<BH", kind, len(name)) + name,
                  struct.pack(f"<HB{len(shape)}I", e.index, len(shape), *shape), data]
    for q in quantizers:
        name = q.name.encode()
        parts += [struct.pack("<BH", KIND_QUANTIZER, len(name)) + name, struct.pack("<HB", 0, 0),
                  QUANTIZER.pack(q.bits, q.f, int(q.signed))]
    payload = b"".join(parts)
    head = HEADER.pack(MAGIC, VERSION, bits, 0, len(entries) + len(quantizers), len(payload), zlib.crc32(payload))
    return head + payload


@dataclass
class EntryHead:
    """An entry as its header declares it, read without decoding its data."""
    kind: int
    layer: str
    index: int
    shape: tuple[int, ...]
    bits: int
    off: int  # where its data starts (after n1 for coded kinds)
    end: int  # where the next entry starts
    n1: int | None = None  # a quantizer's f
    signed: bool = False  # a quantizer's

    @property
    def count(self) -> int:
        return math.prod(self.shape)  # exact: a product of u32 dims never wraps here


def _rans_end(payload: bytes, off: int, bits: int, where: str) -> int:
    """Where a kind-3 entry's data (from its probability bits on) ends."""
    prob_bits, lanes = struct.unpack_from("<BI", payload, off)
    if prob_bits != rans.PROB_BITS or not 1 <= lanes <= rans.MAX_LANES:
        raise InqError(f"{where}: bad entropy-coding parameters ({prob_bits} probability bits, {lanes} lanes)")
    words_at = off + 5 + 2 * (1 << bits) + 4 * lanes
    (nwords,) = struct.unpack_from("<I", payload, words_at)
    end = words_at + 4 + 2 * nwords
    if end > len(payload):
        raise InqError(f"{where}: runs past the end")
    return end


def _decode_rans(payload: bytes, h: EntryHead, where: str) -> np.ndarray:
    _, lanes = struct.unpack_from("<BI", payload, h.off)
    off = h.off + 5
    freqs = np.frombuffer(payload, "<u2", 1 << h.bits, off).astype(np.uint32)
    off += 2 * (1 << h.bits)
    states = np.frombuffer(payload, "<u4", lanes, off).astype(np.uint32)
    off += 4 * lanes
    (nwords,) = struct.unpack_from("<I", payload, off)
    words = np.frombuffer(payload, "<u2", nwords, off + 4).astype(np.uint16)
    if int(freqs.max()) >= rans.M:  # a code that costs no bits: any count from no data
        raise InqError(f"{where}: a code has the whole probability range (no encoder writes that)")
    try:
        return rans.decode(states, words, freqs, h.count)
    except rans.RansError as e:
        raise InqError(f"{where}: entropy-coded data do not decode ({e})") from None


def _payload(data: bytes, path: str) -> tuple[int, int, int, bytes]:
    """(version, bits, entry count, payload) after the header's checks."""
    if len(data) < HEADER.size:
        raise InqError(f"{path}: truncated ({len(data)} bytes, the header alone is {HEADER.size})")
    magic, version, bits, _, n, plen, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise InqError(f"{path}: not an .inq file (bad magic)")
    if version not in READABLE:
        raise InqError(f"{path}: format version {version}, this tool reads versions "
                       f"{', '.join(map(str, READABLE))}")
    if not 2 <= bits <= 8:
        raise InqError(f"{path}: bits = {bits} in the header is outside 2..8")
    payload = data[HEADER.size:]
    if len(payload) != plen:
        raise InqError(f"{path}: payload is {len(payload)} bytes, the header says {plen} (truncated or padded)")
    if zlib.crc32(payload) != crc:
        raise InqError(f"{path}: checksum mismatch (corrupt file)")
    return version, bits, n, payload


def read_layout(data: bytes, path: str) -> tuple[int, list[EntryHead]]:
    """The file's bits and every entry's header, checked against the file's real size;
    nothing is decoded, so nothing is allocated for what a header merely claims."""
    version, bits, n, payload = _payload(data, path)
    if n > len(payload) // 6:  # an entry takes at least kind, name length, index and ndim
        raise InqError(f"{path}: declares {n:,} entries, more than its {len(payload):,}-byte payload can hold")
    heads, off = [], 0
    try:
        for _ in range(n):
            kind, nlen = struct.unpack_from("<BH", payload, off)
            off += 3
            name = payload[off:off + nlen].decode()
            off += nlen
            index, ndim = struct.unpack_from("<HB", payload, off)
            off += 3
            shape = struct.unpack_from(f"<{ndim}I", payload, off)
            off += 4 * ndim
            where = f"{path}: entry {name!r}"
            if kind not in (KIND_CODED, KIND_FLOAT) and not (kind == KIND_RANS and version >= 2) and \
                    not (kind == KIND_QUANTIZER and version >= 4):
                raise InqError(f"{path}: unknown entry kind {kind}")
            h = EntryHead(kind, name, index, tuple(shape), bits, off, off)
            if kind != KIND_QUANTIZER and h.count > BLOB_MAX:
                raise InqError(f"{where}: shape {tuple(shape)} holds {h.count:,} values, more than a Caffe blob "
                               f"holds ({BLOB_MAX:,})")
            if kind == KIND_QUANTIZER:
                qbits, f, signed = QUANTIZER.unpack_from(payload, off)
                if ndim or index or not 2 <= qbits <= 16 or signed not in (0, 1):
                    raise InqError(f"{where}: not an activation quantizer (bits {qbits}, signed {signed}, "
                                   f"index {index}, {ndim} dims)")
                h.bits, h.n1, h.end = qbits, f, off + QUANTIZER.size
                h.signed = bool(signed)
                heads.append(h)
                off = h.end
                continue
            if kind in (KIND_CODED, KIND_RANS):
                if version >= 3:
                    (h.bits,) = struct.unpack_from("<B", payload, off)
                    off += 1
                    if not 2 <= h.bits <= 8:
                        raise InqError(f"{where}: bits = {h.bits} is outside 2..8")
                (h.n1,) = struct.unpack_from("<h", payload, off)
                off += 2
            h.off = off
            if kind == KIND_CODED:
                h.end = off + (h.count * h.bits + 7) // 8
            elif kind == KIND_FLOAT:
                h.end = off + 4 * h.count
            else:
                h.end = _rans_end(payload, off, h.bits, where)
            if h.end > len(payload):
                raise InqError(f"{where} runs past the end")
            heads.append(h)
            off = h.end
    except (struct.error, UnicodeDecodeError, ValueError) as e:
        raise InqError(f"{path}: malformed entry ({e})") from None
    if off != len(payload):
        raise InqError(f"{path}: {len(payload) - off} unexplained bytes after the last entry")
    return bits, heads


def decode_entry(data: bytes, h: EntryHead, path: str) -> Entry:
    payload = memoryview(data)[HEADER.size:]
    if h.kind == KIND_FLOAT:
        arr = np.frombuffer(payload, "<f4", h.count, h.off).astype(np.float32).reshape(h.shape)
        return Entry(h.layer, h.index, arr, False)
    if h.kind == KIND_CODED:
        codes = unpack(bytes(payload[h.off:h.end]), h.count, h.bits)
    else:
        codes = _decode_rans(bytes(payload), h, f"{path}: entry {h.layer!r}")
    arr = decode_codes(codes, h.n1, h.bits, f"{path}: {h.layer}").reshape(h.shape)
    return Entry(h.layer, h.index, arr, True, h.n1, bits=h.bits)


def deserialize(data: bytes, path: str = ".inq file",
                check: Callable[[list[EntryHead]], None] | None = None) -> tuple[int, list[Entry]]:
    """(bits, entries). `check` sees every entry's declared shape before anything is
    decoded (export --load compares them with the net)."""
    bits, heads = read_layout(data, path)
    heads = [h for h in heads if h.kind != KIND_QUANTIZER]
    if check is not None:
        check(heads)
    return bits, [decode_entry(data, h, path) for h in heads]


def read_quantizers(data: bytes, path: str = ".inq file") -> list[Quantizer]:
    """The activation quantizers a version 4 file holds (none in versions 1 to 3)."""
    return [Quantizer(h.layer, h.bits, h.n1, h.signed) for h in read_layout(data, path)[1] if h.kind == KIND_QUANTIZER]
