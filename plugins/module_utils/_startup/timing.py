# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Time keeping of a startup run: the run's clock, UTC timestamps, and how seconds are written.

Private to strata.libvirt; no compatibility promise.
"""

import time

HEARTBEAT = 30.0         # seconds between 'still waiting' progress lines
DOMAIN_WATCH = 1.0       # seconds between looks at the state of a domain the readiness wait waits for


def iso(ts):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ts)) + ('.%03dZ' % int((ts % 1) * 1000))


class Clock(object):
    """Wall-clock and monotonic time of the run; every event carries both."""

    def __init__(self):
        self.wall0 = time.time()
        self.mono0 = time.monotonic()

    def now(self):
        mono = time.monotonic()
        return {'at': iso(self.wall0 + (mono - self.mono0)), 't': round(mono - self.mono0, 2)}

    def since(self):
        return round(time.monotonic() - self.mono0, 2)


def seconds_text(number):
    """12.0 -> '12', 2.5 -> '2.5'."""
    return ('%d' % number) if float(number).is_integer() else ('%s' % number)
