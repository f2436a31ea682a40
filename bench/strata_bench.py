# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The strata.libvirt benchmark's entry point: bench/run starts this file (inside the lab, or with --report or
--help outside it). The benchmark itself is the package beside it, bench/harness/ (its modules, by job, are
listed in bench/harness/__init__.py)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
