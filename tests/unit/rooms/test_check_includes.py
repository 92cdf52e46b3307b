#!/usr/bin/env python3
"""The room include check: passes on this tree, and fails on each kind of planted violation.

Usage: test_check_includes.py SOURCE_DIR ROOMS_TXT
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE, ROOMS = sys.argv[1], sys.argv[2]
CHECK = os.path.join(SOURCE, "scripts", "check-includes.py")


def run_check(root):
    r = subprocess.run([sys.executable, CHECK, "--root", root, ROOMS], capture_output=True,
                       text=True)
    return r.returncode, r.stdout


class CheckIncludes(unittest.TestCase):
    def setUp(self):
        # A copy of every room's folder, so the planted lines never touch the real tree.
        self.tmp = tempfile.mkdtemp(prefix="sieve-rooms-")
        with open(ROOMS, encoding="utf-8") as f:
            folders = [l.split("\t")[1] for l in f if l.strip() and not l.startswith("#")]
        for folder in folders:
            shutil.copytree(os.path.join(SOURCE, folder), os.path.join(self.tmp, folder),
                            ignore=shutil.ignore_patterns("*.txt", "*.in"))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def plant(self, rel, line):
        with open(os.path.join(self.tmp, rel), "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def test_the_tree_follows_its_links(self):
        rc, out = run_check(self.tmp)
        self.assertEqual(rc, 0, out)
        self.assertIn("0 problem(s)", out)

    def test_an_arrow_the_link_line_does_not_name(self):
        # The store sits below the planner: it may not include it.
        self.plant("store/store_run.c", '#include "core/plan/plan.h"')
        rc, out = run_check(self.tmp)
        self.assertEqual(rc, 1)
        self.assertIn("store/store_run.c", out)
        self.assertIn("of room 'sieve_plan', which its link line does not name", out)

    def test_another_rooms_private_header(self):
        self.plant("core/plan/plan.c", '#include "core/sched/sched_int.h"')
        rc, out = run_check(self.tmp)
        self.assertEqual(rc, 1)
        self.assertIn("a private header of room 'sieve_sched'", out)

    def test_a_bare_name_from_another_folder(self):
        self.plant("core/worker/worker.c", '#include "host_int.h"')
        rc, out = run_check(self.tmp)
        self.assertEqual(rc, 1)
        self.assertIn("which is not in its folder core/worker/", out)

    def test_a_path_that_climbs_out(self):
        self.plant("cli/main.c", '#include "../core/spec/spec_int.h"')
        rc, out = run_check(self.tmp)
        self.assertEqual(rc, 1)
        self.assertIn("no '..' paths", out)

    def test_a_foreign_library_outside_its_owner(self):
        self.plant("web/route.c", "#include <h2o.h>")
        self.plant("core/plan/plan.c", "#include <sqlite3.h>")
        rc, out = run_check(self.tmp)
        self.assertEqual(rc, 1)
        self.assertIn("web/route.c", out)
        self.assertIn("only web/http_h2o.c may include", out)
        self.assertIn("only store/ may include", out)

    def test_the_abi_header_needs_its_link(self):
        self.plant("core/table/table.c", "#include <sieve/plugin.h>")
        rc, _ = run_check(self.tmp)
        self.assertEqual(rc, 0)  # sieve_table links sieve_abi
        rooms = os.path.join(self.tmp, "rooms.txt")
        with open(ROOMS, encoding="utf-8") as f, open(rooms, "w", encoding="utf-8") as g:
            for l in f:
                if l.startswith("sieve_table\t"):
                    l = l.replace("sieve_abi", "")
                g.write(l)
        r = subprocess.run([sys.executable, CHECK, "--root", self.tmp, rooms],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("includes <sieve/plugin.h> but does not link sieve_abi", r.stdout)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
