"""Reads a Python node's declaration without running it.

A node script declares itself in a module-level literal dict named SIEVE:

    SIEVE = {
        "version": "1.0.0",                      # goes into every task key; bump it
        "summary": "answers the clip's question from the kept tokens",
        "class": "Answerer",                     # optional: the class with load() and run()
        "inputs": {"kept": "kept tokens", "audio": {"doc": "...", "optional": True}},
        "outputs": {"out": "the predicted letter"},
        "params": {"temperature": {"type": "float", "default": 1.0, "min": 0, "max": 10,
                                   "doc": "softmax temperature"}},
        "row_fields": ["question", "choices"],   # manifest fields the script reads
        "device": False, "reduce": False, "deterministic": True,
    }

The dict is parsed with ast.literal_eval, so the planner learns ports, parameters and version
without importing torch or loading a model. The same pass reports what would stop the script
before any task runs: a syntax error, and a module-level import whose top package the chosen
interpreter cannot find (imports inside try blocks are the script's own fallbacks and are
left alone). Every problem carries the script's path, line and column.

    python -m sieve_node.declare SCRIPT        prints one JSON object on stdout:
      {"ok": true, "file", "class", "version", "summary", "sha256", "inputs", "outputs",
       "params", "row_fields", "flags"}            or
      {"ok": false, "file", "line", "col", "message"}

SCRIPT is `path.py`, `path.py:Class` or `package.module:Class`.
"""

import ast
import hashlib
import importlib.util
import json
import os
import re
import sys

TYPES = ("int", "float", "string", "bool", "enum", "list")
ITEM_TYPES = ("int", "float", "string", "bool")
_NAME = re.compile(r"^[a-z0-9_]+$")
_PORT = re.compile(r"^[a-z0-9_-]+$")
# Parameters of the bridge itself; a script may not declare them.
RESERVED = ("script", "python")


class DeclError(Exception):
    def __init__(self, message, line=0, col=0):
        Exception.__init__(self, message)
        self.message, self.line, self.col = message, line, col


def split_target(target):
    """'a/b.py:Cls' -> ('a/b.py', 'Cls'); 'pkg.mod:Cls' -> ('pkg.mod', 'Cls'); no class: None."""
    path, cls = target, None
    head, sep, tail = target.rpartition(":")
    if sep and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", tail):
        path, cls = head, tail
    return path, cls


def resolve(target):
    """Returns (absolute file path, class name or None) for a script target."""
    path, cls = split_target(target)
    if path.endswith(".py") or os.sep in path:
        return os.path.abspath(path), cls
    try:
        spec = importlib.util.find_spec(path)
    except (ImportError, ValueError) as e:
        raise DeclError("module '%s': %s" % (path, e))
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise DeclError("no Python module '%s' for interpreter %s" % (path, sys.executable))
    return os.path.abspath(spec.origin), cls


def _scalar_text(v, where, line, col):
    """A default as the YAML-ish text the C host parses ('0.5', 'true', '"text"', '[1, 2]')."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    raise DeclError("%s: default %r is not a number, string or bool" % (where, v), line, col)


def _default_text(v, where, line, col):
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar_text(x, where, line, col) for x in v) + "]"
    return _scalar_text(v, where, line, col)


def _ports(value, what, line, col):
    if not isinstance(value, dict):
        raise DeclError("SIEVE['%s'] must be a dict of port name to doc" % what, line, col)
    out = []
    for name, spec in value.items():
        if not isinstance(name, str) or not _PORT.match(name):
            raise DeclError("%s port %r: names are [a-z0-9_-]+" % (what[:-1], name), line, col)
        if isinstance(spec, str):
            spec = {"doc": spec}
        if not isinstance(spec, dict):
            raise DeclError("%s port '%s': a doc string or a dict" % (what[:-1], name), line, col)
        out.append({"name": name, "doc": str(spec.get("doc", "")),
                    "optional": bool(spec.get("optional", False))})
    return out


def _params(value, line, col):
    if not isinstance(value, dict):
        raise DeclError("SIEVE['params'] must be a dict of parameter name to spec", line, col)
    out = []
    for name, spec in value.items():
        where = "parameter '%s'" % name
        if not isinstance(name, str) or not _NAME.match(name):
            raise DeclError("parameter %r: names are [a-z0-9_]+" % (name,), line, col)
        if name in RESERVED:
            raise DeclError("%s is reserved by the python plugin" % where, line, col)
        if not isinstance(spec, dict):
            raise DeclError("%s: spec must be a dict with at least 'type'" % where, line, col)
        unknown = set(spec) - {"type", "default", "min", "max", "choices", "item_type", "doc",
                               "required", "no_key"}
        if unknown:
            raise DeclError("%s: unknown field '%s'" % (where, sorted(unknown)[0]), line, col)
        t = spec.get("type")
        if t not in TYPES:
            raise DeclError("%s: type must be one of %s" % (where, ", ".join(TYPES)), line, col)
        row = {"name": name, "type": t, "doc": str(spec.get("doc", "")),
               "required": bool(spec.get("required", False)),
               "no_key": bool(spec.get("no_key", False))}
        if row["required"]:
            if "default" in spec:
                raise DeclError("%s: a required parameter has no default" % where, line, col)
        elif "default" not in spec:
            raise DeclError("%s: give a default or required: True" % where, line, col)
        else:
            row["default"] = _default_text(spec["default"], where, line, col)
        for bound in ("min", "max"):
            if bound in spec:
                b = spec[bound]
                if isinstance(b, bool) or not isinstance(b, (int, float)):
                    raise DeclError("%s: %s must be a number" % (where, bound), line, col)
                row[bound] = float(b)
        if t == "enum":
            ch = spec.get("choices")
            if not isinstance(ch, (list, tuple)) or not ch or \
                    not all(isinstance(c, str) for c in ch):
                raise DeclError("%s: an enum needs a list of string choices" % where, line, col)
            row["choices"] = list(ch)
        if t == "list":
            it = spec.get("item_type")
            if it not in ITEM_TYPES:
                raise DeclError("%s: a list needs item_type (%s)" % (where, ", ".join(ITEM_TYPES)),
                                line, col)
            row["item_type"] = it
        out.append(row)
    return out


def _check_imports(tree, path):
    """Module-level imports whose top package this interpreter cannot find."""
    sys.path.insert(0, os.path.dirname(path))
    try:
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                try:
                    found = importlib.util.find_spec(top) is not None
                except (ImportError, ValueError):
                    found = False
                if not found:
                    raise DeclError("no module named '%s' for interpreter %s"
                                    % (top, sys.executable), node.lineno, node.col_offset + 1)
    finally:
        sys.path.pop(0)


def _pick_class(tree, wanted, line, col):
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    if wanted:
        if not any(c.name == wanted for c in classes):
            raise DeclError("no class '%s' at module level" % wanted, line, col)
        return wanted
    runners = [c.name for c in classes
               if any(isinstance(f, ast.FunctionDef) and f.name == "run" for f in c.body)]
    if len(runners) != 1:
        raise DeclError("name the node class with SIEVE['class'] or 'script.py:Class' "
                        "(%d classes define run())" % len(runners), line, col)
    return runners[0]


def declaration(target):
    """The declaration of a script target as a dict (see the module comment)."""
    path, cls = resolve(target)
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        raise DeclError("cannot read: %s" % e.strerror)
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        raise DeclError("syntax error: %s" % e.msg, e.lineno or 0, e.offset or 0)
    decl = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SIEVE"
                                                for t in node.targets):
            decl = node
    if decl is None:
        raise DeclError("no module-level SIEVE = {...} declaration", 1, 1)
    line, col = decl.lineno, decl.col_offset + 1
    try:
        d = ast.literal_eval(decl.value)
    except ValueError:
        raise DeclError("SIEVE must be a literal dict (no names or calls)", line, col)
    if not isinstance(d, dict):
        raise DeclError("SIEVE must be a dict", line, col)
    known = {"version", "summary", "class", "inputs", "outputs", "params", "row_fields",
             "device", "reduce", "deterministic"}
    unknown = set(d) - known
    if unknown:
        raise DeclError("SIEVE: unknown key '%s'" % sorted(unknown)[0], line, col)
    version = d.get("version")
    if not isinstance(version, str) or not version:
        raise DeclError("SIEVE['version'] must be a non-empty string", line, col)
    outputs = _ports(d.get("outputs", {"out": "the script's output"}), "outputs", line, col)
    if not outputs:
        raise DeclError("SIEVE['outputs'] names no port", line, col)
    rows = d.get("row_fields", [])
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, str) and r for r in rows):
        raise DeclError("SIEVE['row_fields'] must be a list of field names", line, col)
    inputs = _ports(d.get("inputs", {}), "inputs", line, col)
    params = _params(d.get("params", {}), line, col)
    _check_imports(tree, path)
    return {
        "ok": True,
        "file": path,
        "class": _pick_class(tree, cls or d.get("class"), line, col),
        "version": version,
        "summary": str(d.get("summary", "")),
        "sha256": hashlib.sha256(source).hexdigest(),
        "inputs": inputs,
        "outputs": outputs,
        "params": params,
        "row_fields": list(rows),
        "flags": {"device": bool(d.get("device", False)), "reduce": bool(d.get("reduce", False)),
                  "deterministic": bool(d.get("deterministic", True))},
    }


def describe(target):
    """declaration() as the JSON object the C host reads, errors included."""
    try:
        return declaration(target)
    except DeclError as e:
        path = split_target(target)[0]
        try:
            path = resolve(target)[0]
        except DeclError:
            pass
        return {"ok": False, "file": path, "line": e.line, "col": e.col, "message": e.message}


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: python -m sieve_node.declare SCRIPT\n")
        return 2
    sys.stdout.write(json.dumps(describe(argv[1])) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
