#!/usr/bin/python3
"""Interoperability check between sieve and the independent numpy reader/writer.

    check_roundtrip.py BUNDLE_COPY FIXTURE_DIR

1. The hand-made fixtures open in the numpy reader with the values make_fixtures.py meant.
2. Random tensors of every dtype (scalars and zero-size dims included) are written by the
   numpy writer the way the Rust library does, padded and misaligned; sieve reads each and
   writes it again (bundle_copy); the numpy reader gets back the same names, order, dtypes,
   shapes, bytes and metadata.
3. Each sieve-written file also passes the strict rules of the Rust library's reader: the
   header starts with '{', data offsets are contiguous from 0 and end exactly at the end of
   the file; and sieve's own rules: 8 + N is a multiple of 8 and every tensor is aligned.
Exits non-zero with a message on the first difference.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np as st  # noqa: E402

SIZES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "U8": 1, "BOOL": 1}


def fail(msg):
    sys.exit("check_roundtrip: " + msg)


def strict_checks(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    if (8 + n) % 8:
        fail("%s: 8 + N = %d is not a multiple of 8" % (path, 8 + n))
    text = buf[8:8 + n]
    if not text.startswith(b"{"):
        fail("%s: header does not start with '{'" % path)
    header = json.loads(text)
    if list(header)[:1] != ["__metadata__"] and "__metadata__" in header:
        fail("%s: __metadata__ is not the first key" % path)
    ranges = sorted((v["data_offsets"][0], v["data_offsets"][1], v["dtype"], k)
                    for k, v in header.items() if k != "__metadata__")
    pos = 0
    for b, e, dtype, name in ranges:
        if b != pos:
            fail("%s: tensor %r starts at %d, expected %d (not contiguous)" % (path, name, b, pos))
        if (8 + n + b) % SIZES[dtype]:
            fail("%s: tensor %r is misaligned" % (path, name))
        pos = e
    if 8 + n + pos != len(buf):
        fail("%s: data ends at %d but the file has %d bytes" % (path, 8 + n + pos, len(buf)))


def same(name, a, b):
    (da, xa), (db, xb) = a, b
    if da != db or xa.shape != xb.shape or xa.tobytes() != xb.tobytes():
        fail("tensor %r differs: %s %s vs %s %s" % (name, da, xa.shape, db, xb.shape))


def random_tensors(rng):
    t = {}
    for i, dtype in enumerate(SIZES):
        for j, shape in enumerate([(), (0,), (3, 0, 2), (5,), (2, 3, 4), tuple([1] * 7 + [3])]):
            n = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if dtype in ("F64", "F32", "F16"):
                a = rng.standard_normal(n).astype(st.NP[dtype])
                if n > 2:
                    a[1] = np.inf
                    a[2] = np.nan
            elif dtype == "BF16":
                a = rng.integers(0, 1 << 16, n, dtype=np.uint16)
            elif dtype == "BOOL":
                a = rng.integers(0, 2, n).astype(bool)
            else:
                info = np.iinfo(st.NP[dtype])
                a = rng.integers(info.min, info.max, n, dtype=st.NP[dtype], endpoint=True)
            t["t%d_%d.%s" % (i, j, dtype.lower())] = (dtype, a.reshape(shape))
    return t


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_roundtrip.py BUNDLE_COPY FIXTURE_DIR")
    copy, fixtures = sys.argv[1], sys.argv[2]

    tensors, meta, _ = st.read(os.path.join(fixtures, "all_dtypes.safetensors"))
    if meta.get("note") != "caf\u00e9 \u2713":
        fail("all_dtypes: metadata %r" % meta)
    for name, (dtype, arr) in tensors.items():
        same(name, (dtype, arr), (dtype, st.pattern(dtype, arr.shape)))
    strict_checks(os.path.join(fixtures, "all_dtypes.safetensors"))

    rng = np.random.default_rng(20260501)
    with tempfile.TemporaryDirectory(prefix="sieve-np-") as tmp:
        for case in range(6):
            want = random_tensors(rng)
            meta = {"case": str(case), "unicode": "\u00fc\u2713", "json": '{"a": [1]}'}
            src = os.path.join(tmp, "in%d.safetensors" % case)
            dst = os.path.join(tmp, "out%d.safetensors" % case)
            st.write(src, want, meta, pad=case % 2 == 0, misalign=case % 3 == 1)
            r = subprocess.run([copy, src, dst], capture_output=True, text=True)
            if r.returncode:
                fail("bundle_copy %s: %s" % (src, r.stderr.strip()))
            _, _, src_keys = st.read(src)
            got, got_meta, keys = st.read(dst)
            if keys != src_keys:
                fail("case %d: tensor order changed" % case)
            if got_meta != meta:
                fail("case %d: metadata %r != %r" % (case, got_meta, meta))
            for name in want:
                same(name, want[name], got[name])
            strict_checks(dst)
    print("check_roundtrip: ok (fixtures and 6 foreign round trips of %d tensors)" % len(want))


if __name__ == "__main__":
    main()
