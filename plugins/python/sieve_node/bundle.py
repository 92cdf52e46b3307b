"""Bundles on disk: safetensors files read and written with the standard library and numpy.

A bundle is an ordered map of named tensors plus string metadata (docs/bundles.md). On disk it
is a safetensors file:

    u64 little-endian N | N bytes of JSON header | data
    header: {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..],
             "data_offsets": [begin, end]}, ...}   offsets relative to the data section

Debian ships no `safetensors` package, so this module is the reader and writer Python nodes
use. Reading maps the file and returns read-only numpy views (no copy); BF16, which numpy
lacks, is widened to float32 on read and narrowed (round to nearest even) on write only when
asked for with `Bundle.set(name, array, dtype="BF16")`.

Writing is deterministic: tensors in insertion order, each aligned to 8 bytes, the header
compact JSON padded with spaces to a multiple of 8, so equal bundles give equal bytes.
"""

import json
import mmap
import os
import struct

import numpy as np

# safetensors dtype name -> numpy dtype (little-endian).
_DTYPES = {
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {
    np.dtype("<f4"): "F32",
    np.dtype("<f2"): "F16",
    np.dtype("<f8"): "F64",
    np.dtype("<i8"): "I64",
    np.dtype("<i4"): "I32",
    np.dtype("u1"): "U8",
    np.dtype("?"): "BOOL",
}
MAX_DIMS = 8
_MAX_HEADER = 100 * 1024 * 1024


class BundleError(ValueError):
    """A file that is not a well-formed bundle, or a tensor sieve cannot store."""


class Bundle:
    """An ordered map of named numpy arrays plus string metadata."""

    def __init__(self, tensors=None, meta=None):
        self.tensors = {}
        self.dtypes = {}  # name -> safetensors dtype to write
        self.meta = {}
        for name, arr in (tensors or {}).items():
            self.set(name, arr)
        for key, value in (meta or {}).items():
            self.meta[str(key)] = str(value)

    def set(self, name, array, dtype=None):
        """Adds or replaces tensor `name`. `dtype` "BF16" stores float data as bfloat16."""
        arr = np.asarray(array)
        if dtype is None:
            dtype = _dtype_name(arr, name)
        elif dtype != "BF16" and dtype not in _DTYPES:
            raise BundleError("tensor '%s': unknown dtype '%s'" % (name, dtype))
        if arr.ndim > MAX_DIMS:
            raise BundleError("tensor '%s': %d dimensions (at most %d)" % (name, arr.ndim, MAX_DIMS))
        self.tensors[str(name)] = arr
        self.dtypes[str(name)] = dtype

    def __getitem__(self, name):
        return self.tensors[name]

    def __contains__(self, name):
        return name in self.tensors

    def get(self, name, default=None):
        return self.tensors.get(name, default)

    def names(self):
        return list(self.tensors)


def _dtype_name(arr, name):
    dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
    if dt in _NAMES:
        return _NAMES[dt]
    raise BundleError("tensor '%s': numpy dtype %s has no safetensors equivalent "
                      "(use float32/16/64, int64/32, uint8 or bool)" % (name, arr.dtype))


def _bf16_to_f32(raw):
    return (raw.astype("<u4") << 16).view("<f4")


def _f32_to_bf16(arr):
    bits = np.ascontiguousarray(arr, dtype="<f4").view("<u4")
    rounded = bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))
    nan = np.isnan(arr)
    out = (rounded >> 16).astype("<u2")
    out[nan] = np.uint16(0x7FC0)
    return out


def read_bundle(path):
    """Reads the bundle at `path`; tensors are read-only views of the mapped file."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise BundleError("'%s': %d bytes, too short for a bundle" % (path, size))
        n = struct.unpack("<Q", f.read(8))[0]
        if n > _MAX_HEADER or 8 + n > size:
            raise BundleError("'%s': header length %d past the end of the file" % (path, n))
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise BundleError("'%s': header is not JSON (%s)" % (path, e))
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size > 0 else b""
    if not isinstance(header, dict):
        raise BundleError("'%s': header is not a JSON object" % path)
    base = 8 + n
    data_len = size - base
    b = Bundle()
    for key, value in (header.get("__metadata__") or {}).items():
        b.meta[str(key)] = str(value)
    entries = [(k, v) for k, v in header.items() if k != "__metadata__"]
    entries.sort(key=lambda kv: (kv[1].get("data_offsets", [0, 0])[0], kv[0]))
    for name, info in entries:
        try:
            dt, shape, (lo, hi) = info["dtype"], list(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise BundleError("'%s': tensor '%s' lacks dtype, shape or data_offsets" % (path, name))
        if dt != "BF16" and dt not in _DTYPES:
            raise BundleError("'%s': tensor '%s' has unknown dtype '%s'" % (path, name, dt))
        item = 2 if dt == "BF16" else _DTYPES[dt].itemsize
        count = 1
        for d in shape:
            if not isinstance(d, int) or d < 0:
                raise BundleError("'%s': tensor '%s' has a bad shape %r" % (path, name, shape))
            count *= d
        if not (0 <= lo <= hi <= data_len) or hi - lo != count * item:
            raise BundleError("'%s': tensor '%s' data_offsets [%d, %d] do not fit %s %r"
                              % (path, name, lo, hi, dt, shape))
        if dt == "BF16":
            raw = np.frombuffer(buf, dtype="<u2", count=count, offset=base + lo)
            b.set(name, _bf16_to_f32(raw).reshape(shape), dtype="BF16")
        else:
            arr = np.frombuffer(buf, dtype=_DTYPES[dt], count=count, offset=base + lo)
            b.set(name, arr.reshape(shape), dtype=dt)
    return b


def write_bundle(bundle, path):
    """Writes `bundle` (a Bundle, or a dict of arrays) to `path` through a temporary file."""
    if not isinstance(bundle, Bundle):
        bundle = Bundle(bundle)
    header = {}
    if bundle.meta:
        header["__metadata__"] = {str(k): str(v) for k, v in bundle.meta.items()}
    blobs, off = [], 0
    for name, arr in bundle.tensors.items():
        dt = bundle.dtypes[name]
        if dt == "BF16":
            data = _f32_to_bf16(np.asarray(arr, dtype="<f4")).tobytes()
        else:
            data = np.ascontiguousarray(arr, dtype=_DTYPES[dt]).tobytes()
        pad = (-off) % 8
        if pad:
            blobs.append(b"\0" * pad)
            off += pad
        header[name] = {"dtype": dt, "shape": [int(d) for d in np.shape(arr)],
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)
