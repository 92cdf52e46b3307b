#!/usr/bin/python3
"""An independent safetensors reader and writer in plain numpy, written from the format rules.

Python's `safetensors` package is not in Debian 12, so this stands in for it as the foreign
implementation sieve must interoperate with. It shares no code with sieve.

  read(path)   -> (tensors, metadata, header_keys); tensors maps name -> (dtype, ndarray);
                  BF16 arrays are returned as their raw uint16 bits (numpy has no bfloat16).
  write(path, tensors, metadata, pad=True, misalign=False)
               writes the way the Rust `safetensors` library does: data ordered by dtype
               (descending in the library's dtype order) then by name, contiguous, header keys
               in that same order with "__metadata__" first; pad=True pads the header with
               spaces to a multiple of 8 (newer library versions), misalign=True leaves the
               header unpadded and makes 8 + N odd so 2-, 4- and 8-byte tensors land misaligned
               (older writers and hand-edited files do this).

Command line:
  safetensors_np.py make-fixtures DIR   writes the committed foreign_*.safetensors fixtures
"""
import json
import os
import struct
import sys

import numpy as np

NP = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
# The Rust library's Dtype declaration order (derive(Ord)), restricted to sieve's dtypes.
RUST_ORDER = ["BOOL", "U8", "F16", "BF16", "I32", "F32", "F64", "I64"]


class FormatError(Exception):
    pass


def read(path):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise FormatError("too short")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise FormatError("header past end")
    pairs = json.loads(buf[8:8 + n].decode("utf-8"), object_pairs_hook=list)
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise FormatError("duplicate key")
    data = memoryview(buf)[8 + n:]
    tensors, metadata = {}, {}
    for name, info in pairs:
        if name == "__metadata__":
            metadata = dict(info)
            continue
        info = dict(info)
        dt = NP[info["dtype"]]
        shape = tuple(info["shape"])
        b, e = info["data_offsets"]
        if not 0 <= b <= e <= len(data):
            raise FormatError("offsets of %r" % name)
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * dt.itemsize != e - b:
            raise FormatError("size of %r" % name)
        arr = np.frombuffer(data[b:e], dtype=dt, count=count).reshape(shape)
        tensors[name] = (info["dtype"], arr)
    return tensors, metadata, [k for k in keys if k != "__metadata__"]


def bf16_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


def write(path, tensors, metadata=None, pad=True, misalign=False):
    """tensors: dict name -> (dtype, ndarray); BF16 arrays hold raw uint16 bits."""
    names = sorted(tensors, key=lambda k: (-RUST_ORDER.index(tensors[k][0]), k))
    header, blobs, pos = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name in names:
        dtype, arr = tensors[name]
        raw = np.ascontiguousarray(arr, dtype=NP[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if misalign:
        if (8 + len(text)) % 2 == 0:
            text += b" "
    elif pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def pattern(dtype, shape):
    """The values of tests/fixtures/safetensors/make_fixtures.py, computed with numpy."""
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    i = np.arange(n, dtype=np.int64)
    k = (i * 7) % 23 - 11
    if dtype in ("F64", "F32", "F16"):
        a = (k * 0.25).astype(NP[dtype])
    elif dtype == "BF16":
        a = ((k * 0.25).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    elif dtype == "I64":
        a = k * 1000000007
    elif dtype == "I32":
        a = (k * 1000).astype(np.int32)
    elif dtype == "U8":
        a = ((i * 37) % 256).astype(np.uint8)
    else:
        a = (i % 3 == 0)
    return a.reshape(shape)


FOREIGN = [("w", "F64", (2, 2)), ("v", "I64", (3,)), ("q", "F32", (3, 2)), ("p", "I32", (2,)),
           ("h", "F16", (3,)), ("g", "BF16", (2,)), ("b", "U8", (3,)), ("a", "BOOL", (2,)),
           ("s", "F32", ()), ("z", "F16", (0,))]


def make_fixtures(outdir):
    tensors = {name: (dt, pattern(dt, shape)) for name, dt, shape in FOREIGN}
    meta = {"writer": "safetensors_np"}
    write(os.path.join(outdir, "foreign_rust.safetensors"), tensors, meta)
    write(os.path.join(outdir, "foreign_misaligned.safetensors"), tensors, meta, misalign=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make-fixtures":
        make_fixtures(sys.argv[2])
    else:
        sys.exit("usage: safetensors_np.py make-fixtures DIR")
