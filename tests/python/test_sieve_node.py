"""Tests of the sieve_node helper package (plugins/python/sieve_node): bundles read and written
with numpy alone, the declaration reader, and the exception-to-error-class mapping."""
import glob
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.environ["SIEVE_PYTHON_LIB"])
from sieve_node import BadInput, Bundle, DeviceError, read_bundle, write_bundle  # noqa: E402
from sieve_node.declare import describe  # noqa: E402
from sieve_node.serve import classify  # noqa: E402


class Bundles(unittest.TestCase):
    def test_round_trip_keeps_dtypes_shapes_values_and_metadata(self):
        b = Bundle({"f": np.arange(6, dtype=np.float32).reshape(2, 3),
                    "i": np.array([1, -2], dtype=np.int64),
                    "u": np.array([7], dtype=np.uint8),
                    "s": np.float64(2.5)}, {"k": "v", "n": 3})
        b.set("h", np.array([1.0, -2.0, 3.25], dtype=np.float32), dtype="BF16")
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.safetensors")
            write_bundle(b, p)
            r = read_bundle(p)
            self.assertEqual(r.names(), ["f", "i", "u", "s", "h"])
            self.assertEqual(r["f"].dtype, np.float32)
            self.assertEqual(r["f"].tolist(), [[0, 1, 2], [3, 4, 5]])
            self.assertEqual(r["i"].tolist(), [1, -2])
            self.assertEqual(r["s"].shape, ())
            self.assertEqual(r["h"].tolist(), [1.0, -2.0, 3.25])
            self.assertEqual(r.meta, {"k": "v", "n": "3"})
            # equal bundles give equal bytes
            q = os.path.join(d, "y.safetensors")
            write_bundle(b, q)
            with open(p, "rb") as a, open(q, "rb") as b2:
                self.assertEqual(a.read(), b2.read())

    def test_reads_the_bundles_sieve_writes(self):
        files = glob.glob(os.path.join(os.environ["SIEVE_FIXTURES"], "encode", "*.safetensors"))
        self.assertTrue(files)
        for f in files:
            b = read_bundle(f)
            self.assertTrue(b.names())

    def test_a_truncated_file_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.safetensors")
            write_bundle({"a": np.zeros(100, np.float32)}, p)
            with open(p, "rb") as f:
                data = f.read()
            with open(p, "wb") as f:
                f.write(data[:-8])
            with self.assertRaises(ValueError):
                read_bundle(p)


class Declarations(unittest.TestCase):
    def script(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
        f.write(text)
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_a_good_declaration(self):
        p = self.script('SIEVE = {"version": "2", "inputs": {"x": "in"}, "params": {\n'
                        '  "k": {"type": "float", "default": 0.5, "min": 0, "max": 1},\n'
                        '  "m": {"type": "list", "item_type": "int", "default": [1, 2]}},\n'
                        '  "row_fields": ["question"]}\n'
                        'class N:\n    def run(self, inputs, ctx):\n        return {}\n')
        d = describe(p)
        self.assertTrue(d["ok"], d)
        self.assertEqual(d["class"], "N")
        self.assertEqual([q["default"] for q in d["params"]], ["0.5", "[1, 2]"])
        self.assertEqual(d["row_fields"], ["question"])
        self.assertEqual(d["outputs"], [{"name": "out", "doc": "the script's output",
                                         "optional": False}])
        self.assertEqual(len(d["sha256"]), 64)

    def test_problems_carry_line_and_column(self):
        cases = [
            ('SIEVE = {"version": "1"}\nclass N:\n    def run(self, i, c)\n        pass\n',
             3, "syntax error"),
            ('import os\nimport no_such_module_here\nSIEVE = {"version": "1"}\n', 2,
             "no module named 'no_such_module_here'"),
            ('X = 1\nSIEVE = {"version": X}\n', 2, "literal"),
            ('SIEVE = {"version": "1", "parms": {}}\n', 1, "unknown key 'parms'"),
            ('SIEVE = {"version": "1", "params": {"script": {"type": "string", '
             '"default": ""}}}\n', 1, "reserved"),
            ('SIEVE = {"version": "1", "params": {"k": {"type": "float"}}}\n', 1,
             "give a default"),
        ]
        for text, line, says in cases:
            d = describe(self.script(text))
            self.assertFalse(d["ok"], text)
            self.assertEqual(d["line"], line, d)
            self.assertIn(says, d["message"])

    def test_imports_inside_try_are_left_alone(self):
        p = self.script('try:\n    import torch\nexcept ImportError:\n    torch = None\n'
                        'SIEVE = {"version": "1"}\nclass N:\n    def run(self, i, c):\n'
                        '        return {}\n')
        self.assertTrue(describe(p)["ok"])


class Classes(unittest.TestCase):
    def test_exceptions_map_to_sieve_classes(self):
        self.assertEqual(classify(BadInput("x")), "badinput")
        self.assertEqual(classify(MemoryError()), "nomem")
        self.assertEqual(classify(RuntimeError("CUDA out of memory. Tried to allocate")), "nomem")
        self.assertEqual(classify(DeviceError("x")), "device")
        self.assertEqual(classify(RuntimeError("CUDA error: device-side assert triggered")),
                         "device")
        self.assertEqual(classify(KeyError("x")), "internal")
        self.assertEqual(classify(RuntimeError("shape mismatch")), "internal")


if __name__ == "__main__":
    unittest.main()
