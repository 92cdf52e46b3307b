"""The Python side of the python plugin: a long-lived loop that loads node instances and runs
tasks for the C bridge (plugins/python/python.c).

Started once per worker slot as `python -B -m sieve_node.serve`, with the slot's
CUDA_VISIBLE_DEVICES in its environment. Messages are newline-delimited JSON objects on two
dedicated file descriptors, so nothing a script prints can be mistaken for one: requests
arrive on fd 3, replies leave on fd 4. stdout and stderr go to the bridge, which copies them
into the running task's log.

Requests and their replies (docs/python-nodes.md has the full table):
  {"op": "load", "id": N, "file": PATH, "class": NAME, "values": [...], "device": "cpu"}
      -> {"op": "done", "n_inputs": N, "outputs": "a,b"} | {"op": "error", "class": CLASS,
                                                          "message": TEXT}
  {"op": "run", "id": N, "task": ID, "device": D, "scratch": DIR, "samples": [ROW, ...],
   "inputs": [[PATH|null, ...] per sample], "outputs": {PORT: PATH}}
      -> any number of {"op": "progress", "value": F}, {"op": "log", "level": L, "text": T},
         {"op": "cancelled?"} (answered by the bridge with {"op": "cancel", "value": B}),
         then {"op": "done"} | {"op": "error", ...}
  {"op": "unload", "id": N}  -> {"op": "done"}
CLASS is one of badinput, nomem, device, transient, internal: the bridge maps it to a
SIEVE_E* code. `values` are the declared parameters in declaration order.
"""

import importlib.util
import json
import os
import sys
import traceback

from . import BadInput, Cancelled, DeviceError, Transient
from .bundle import Bundle, BundleError, read_bundle, write_bundle
from .declare import declaration

REQ_FD, REPLY_FD = 3, 4

# Text of errors a CUDA stack raises as a plain RuntimeError (PyTorch, CuPy, cuBLAS, NVML).
_OOM_TEXT = ("CUDA out of memory", "out of memory", "CUBLAS_STATUS_ALLOC_FAILED")
_DEVICE_TEXT = ("CUDA error", "device-side assert", "CUBLAS_STATUS", "CUDNN_STATUS",
                "cuDNN error", "NCCL error", "Unable to determine the device handle",
                "GPU is lost", "device lost", "illegal memory access")


def classify(exc):
    """The sieve error class of an exception raised by a script."""
    if isinstance(exc, BadInput):
        return "badinput"
    if isinstance(exc, Cancelled):
        return "cancelled"
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return "nomem"
    if isinstance(exc, DeviceError):
        return "device"
    if isinstance(exc, Transient):
        return "transient"
    text = str(exc)
    if isinstance(exc, RuntimeError):
        if any(t in text for t in _OOM_TEXT):
            return "nomem"
        if any(t in text for t in _DEVICE_TEXT):
            return "device"
    return "internal"


def torch_device(slot):
    """The device a framework should use on this slot: its one GPU is always ordinal 0
    (the worker's CUDA_VISIBLE_DEVICES names it), CPU and simulated slots are "cpu"."""
    return "cuda:0" if slot.startswith(("gpu", "cuda")) else "cpu"


def where(exc, path):
    """'answer.py:42' for the innermost frame of the script in the traceback, else ''."""
    best = ""
    for fr in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(fr.filename) == path:
            best = "%s:%d" % (os.path.basename(path), fr.lineno)
    return best


class Channel:
    def __init__(self):
        self.rin = os.fdopen(REQ_FD, "rb")
        self.wout = os.fdopen(REPLY_FD, "wb")

    def send(self, msg):
        self.wout.write(json.dumps(msg, separators=(",", ":")).encode("utf-8") + b"\n")
        self.wout.flush()

    def recv(self):
        line = self.rin.readline()
        if not line:
            return None
        return json.loads(line.decode("utf-8"))


class Context:
    """What `run` knows about its task."""

    def __init__(self, chan, req):
        self._chan = chan
        self.task_id = req.get("task", "")
        self.slot = req.get("device", "cpu")  # sieve's name of the slot: "cpu:0", "gpu:1"
        self.device = torch_device(self.slot)
        self.scratch = req.get("scratch") or ""
        self.samples = [_row(s) for s in req.get("samples", [])]
        self.sample = self.samples[0] if self.samples else {}

    def progress(self, fraction):
        """Reports progress, 0 to 1; also tells sieve the script is alive."""
        self._chan.send({"op": "progress", "value": float(fraction)})

    def log(self, text, level=1):
        """One line in the task log (level 0 debug .. 3 error)."""
        self._chan.send({"op": "log", "level": int(level), "text": str(text)})

    def cancelled(self):
        """True when sieve asks the task to stop; raise sieve_node.Cancelled then."""
        self._chan.send({"op": "cancelled?"})
        reply = self._chan.recv()
        return bool(reply and reply.get("value"))


def _row(s):
    """A manifest row: id, media, category and every other field of the JSON row."""
    row = {}
    try:
        row.update(json.loads(s.get("fields") or "{}"))
    except ValueError:
        pass
    row["id"] = s.get("id")
    row["media"] = s.get("media")
    row["category"] = s.get("category")
    return row


class Server:
    def __init__(self):
        self.chan = Channel()
        self.modules = {}    # (file, sha256) -> module
        self.instances = {}  # id -> (instance, declaration)

    def module(self, decl):
        key = (decl["file"], decl["sha256"])
        mod = self.modules.get(key)
        if mod is None:
            name = "sieve_script_%d" % len(self.modules)
            spec = importlib.util.spec_from_file_location(name, decl["file"])
            mod = importlib.util.module_from_spec(spec)
            sys.path.insert(0, os.path.dirname(decl["file"]))
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
            self.modules[key] = mod
        return mod

    def load(self, req):
        target = req["file"] + (":" + req["class"] if req.get("class") else "")
        decl = declaration(target)
        if req.get("sha256") and req["sha256"] != decl["sha256"]:
            raise BadInput("script '%s' changed since the run was planned (plan it again)"
                           % decl["file"])
        values = req.get("values", [])
        if len(values) != len(decl["params"]):
            raise Transient("the script's parameters changed since the run was planned "
                            "(%d values for %d parameters)" % (len(values), len(decl["params"])))
        params = {p["name"]: v for p, v in zip(decl["params"], values)}
        cls = getattr(self.module(decl), decl["class"])
        inst = cls()
        if hasattr(inst, "load"):
            inst.load(params, torch_device(req.get("device", "cpu")))
        self.instances[req["id"]] = (inst, decl)
        return {"n_inputs": len(decl["inputs"]),
                "outputs": ",".join(p["name"] for p in decl["outputs"])}

    def run(self, req):
        inst, decl = self.instances[req["id"]]
        in_ports = [p["name"] for p in decl["inputs"]]
        per_sample = []
        for paths in req.get("inputs", []):
            d = {}
            for port, path in zip(in_ports, paths):
                try:
                    d[port] = read_bundle(path) if path else None
                except BundleError as e:
                    raise BadInput(str(e))
            per_sample.append(d)
        ctx = Context(self.chan, req)
        inputs = per_sample if decl["flags"]["reduce"] else (per_sample[0] if per_sample else {})
        out = inst.run(inputs, ctx)
        outputs = req["outputs"]
        if isinstance(out, Bundle) and len(outputs) == 1:
            out = {next(iter(outputs)): out}
        if not isinstance(out, dict):
            raise TypeError("run() returned %s; return a dict of output port to Bundle"
                            % type(out).__name__)
        for port in out:
            if port not in outputs:
                raise TypeError("run() returned unknown output port '%s' (ports: %s)"
                                % (port, ", ".join(outputs)))
        for port, path in outputs.items():
            if port not in out or out[port] is None:
                raise TypeError("run() returned nothing for output port '%s'" % port)
            write_bundle(out[port], path)

    def serve(self):
        while True:
            req = self.chan.recv()
            if req is None:
                return 0
            op = req.get("op")
            reply = {"op": "done"}
            try:
                if op == "load":
                    reply.update(self.load(req))
                elif op == "run":
                    self.run(req)
                elif op == "unload":
                    self.instances.pop(req.get("id"), None)
                else:
                    raise ValueError("unknown request '%s'" % op)
            except BaseException as e:  # noqa: B902 - everything a script raises is reported
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                path = req.get("file") or ""
                if op == "run" and req.get("id") in self.instances:
                    path = self.instances[req["id"]][1]["file"]
                at = where(e, path)
                traceback.print_exc()
                msg = "%s: %s" % (type(e).__name__, e)
                reply = {"op": "error", "class": classify(e),
                         "message": ("%s: %s" % (at, msg)) if at else msg}
            sys.stdout.flush()
            sys.stderr.flush()
            self.chan.send(reply)


def main():
    return Server().serve()


if __name__ == "__main__":
    sys.exit(main())
