"""sieve_node: what a Python node script imports (standard library and numpy only).

A node is a class with two methods; sieve keeps one instance per parameter set alive in a
long-lived interpreter per worker slot, so `load` runs once per slot, not once per task:

    import numpy as np
    from sieve_node import Bundle, BadInput

    SIEVE = {"version": "1.0.0", "inputs": {"tokens": "F32 [N, C]"},
             "outputs": {"out": "the mean token"},
             "params": {"scale": {"type": "float", "default": 1.0, "min": 0}}}

    class Mean:
        def load(self, params, device):      # once per slot and parameter set
            self.scale = params["scale"]
        def run(self, inputs, ctx):          # once per task
            x = inputs["tokens"]["tokens"]
            if x.ndim != 2:
                raise BadInput("tokens must be [N, C], got %r" % (x.shape,))
            ctx.progress(0.5)
            return {"out": Bundle({"mean": x.mean(axis=0) * self.scale})}

`inputs` maps each input port to a Bundle (None for an unconnected optional port); a reduce
node (SIEVE["reduce"] = True) gets a list with one such dict per sample. `run` returns a dict
of output port to Bundle (or to a dict of arrays); with one output port a Bundle alone will do.

Failures map to sieve's error classes (docs/python-nodes.md): BadInput fails the task without
retry; MemoryError and CUDA out-of-memory are ENOMEM; DeviceError and CUDA errors are a device
fault (quarantine the device, move the task); Transient retries with backoff; any other
exception is a bug in the script (EINTERNAL, no retry).
"""

from .bundle import Bundle, BundleError, read_bundle, write_bundle  # noqa: F401

__all__ = ["Bundle", "BundleError", "read_bundle", "write_bundle", "BadInput", "DeviceError",
           "Transient", "Cancelled"]


class BadInput(Exception):
    """The task's input is wrong (shape, missing tensor, unreadable row): never retried."""


class DeviceError(Exception):
    """The device misbehaved: sieve quarantines it and moves the task elsewhere."""


class Transient(Exception):
    """Something that may pass (a busy file system): retried with backoff."""


class Cancelled(Exception):
    """Raised by a script that saw ctx.cancelled() return True."""
