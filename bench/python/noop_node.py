"""noop_node.py - the no-op Python node of bench/python: reads its input bundle (sched-source's
x, or the previous no-op's) and returns x as it is, so the time is the node's plumbing, not work. Also the per-task script
of the process-per-task peer (run as `python noop_node.py IN OUT`), which does the same with a
fresh interpreter each time, as Snakemake's `script:` directive does."""
import sys

import numpy as np

from sieve_node import Bundle, read_bundle, write_bundle

SIEVE = {"version": "1.0.0", "inputs": {"x": "a bundle with x"}, "outputs": {"out": "the same x"}}


class Noop:
    def run(self, inputs, ctx):
        return Bundle({"x": np.asarray(inputs["x"]["x"])})


if __name__ == "__main__":
    write_bundle(Noop().run({"x": read_bundle(sys.argv[1])}, None), sys.argv[2])
