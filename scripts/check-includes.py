#!/usr/bin/env python3
"""check-includes.py - every #include of a room follows one of its links.

The rooms are the CMake libraries that sieve_room() declares (CMakeLists.txt); configuring
writes them to build/rooms.txt as: name, folder, public headers, linked rooms. The compiler
already refuses another room's private header (only public headers are on the include path);
this check adds what the compiler cannot see, because links are transitive there:

  * a project include is written from the project root ("core/plan/plan.h") and names a
    public header of the including room itself or of a room on its own link line;
  * a bare include ("sched_int.h") names a file in the including file's own folder;
  * no include climbs out with "..";
  * <sieve/plugin.h> (the ABI) needs sieve_abi on the link line;
  * a foreign library that one place owns is included there only: SQLite in store/, libh2o
    in web/http_h2o.c (the adapter, so the HTTP library could be swapped).

Usage: scripts/check-includes.py [--root DIR] ROOMS_TXT
Exit status 0 when every include is allowed, 1 with one line per violation otherwise.
"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')

# (system header, or prefix ending in "/"; where it may be included: a folder/ or one file)
OWNED = [("sqlite3.h", "store/"), ("h2o.h", "web/http_h2o.c"), ("h2o/", "web/http_h2o.c")]


def owned_elsewhere(inc, rel):
    for header, home in OWNED:
        if inc == header or (header.endswith("/") and inc.startswith(header)):
            return None if (rel.startswith(home) if home.endswith("/") else rel == home) else home
    return None


def load_rooms(path):
    rooms = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            cols += [""] * (4 - len(cols))
            name, folder, headers, links = cols[:4]
            rooms[name] = {"folder": folder, "headers": set(headers.split()),
                           "links": set(links.split())}
    return rooms


def owner(rooms, path):
    """The room whose public header `path` (written from the project root) is, and whether
    the folder belongs to a room at all."""
    folder, base = os.path.split(path)
    for name, r in rooms.items():
        if r["folder"] == folder:
            return name, base in r["headers"]
    return None, False


def check_file(rooms, name, root, rel):
    room = rooms[name]
    problems = []
    allowed = room["links"] | {name}
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            quote, inc = m.groups()
            where = f"{rel}:{lineno}: room '{name}'"
            if quote == "<":
                home = owned_elsewhere(inc, rel)
                if home:
                    problems.append(f"{where} includes <{inc}>, which only {home} may include")
                if inc.startswith("sieve/") and "sieve_abi" not in allowed:
                    problems.append(f"{where} includes <{inc}> but does not link sieve_abi")
                continue
            if ".." in inc.split("/"):
                problems.append(f"{where} includes \"{inc}\": no '..' paths; write it from "
                                "the project root")
                continue
            if "/" not in inc:
                if not os.path.exists(os.path.join(root, room["folder"], inc)):
                    problems.append(f"{where} includes \"{inc}\", which is not in its folder "
                                    f"{room['folder']}/")
                continue
            if inc.startswith("sieve/"):
                target, public = "sieve_abi", inc in rooms.get("sieve_abi", {}).get(
                    "headers", set())
            else:
                target, public = owner(rooms, inc)
            if target is None:
                problems.append(f"{where} includes \"{inc}\", which is no room's header")
            elif not public:
                problems.append(f"{where} includes \"{inc}\", a private header of room "
                                f"'{target}'")
            elif target not in allowed:
                problems.append(f"{where} includes \"{inc}\" of room '{target}', which its "
                                "link line does not name")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), help="the source tree (default: this checkout)")
    ap.add_argument("rooms", help="build/rooms.txt")
    a = ap.parse_args()
    rooms = load_rooms(a.rooms)
    problems, files = [], 0
    for name, r in sorted(rooms.items()):
        for link in sorted(r["links"] - set(rooms)):
            problems.append(f"room '{name}' links '{link}', which is not a room")
        folder = os.path.join(a.root, r["folder"])
        if name == "sieve_abi" or not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            if f.endswith((".c", ".h")):
                files += 1
                problems += check_file(rooms, name, a.root, os.path.join(r["folder"], f))
    for p in problems:
        print(p)
    print(f"check-includes: {len(rooms)} rooms, {files} files, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
