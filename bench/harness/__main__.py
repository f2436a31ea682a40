# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the benchmark as ``python -m harness`` from bench/ or ``python bench/harness``; bench/run starts
bench/strata_bench.py, which does the same."""

from __future__ import annotations

import os
import sys

if not __package__:  # python bench/harness: the package is not importable yet
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness.cli import main  # noqa: E402

sys.exit(main())
