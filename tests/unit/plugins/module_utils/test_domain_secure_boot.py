# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The domain module's secure_boot: what it asks of libvirt's firmware autoselection, how the loader libvirt chose
reads back, and when it is a change."""

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._domain.compare import same_setting
from ansible_collections.strata.libvirt.plugins.module_utils._domain.render import render_domain
from ansible_collections.strata.libvirt.plugins.module_utils._domain.settings import parse_domain
from ansible_collections.strata.libvirt.plugins.module_utils._xml import parse_xml, to_text

from ansible_collections.strata.libvirt.tests.unit.plugins.module_utils.test_domain_planner import desired

CHOSEN = ("<domain><name>a</name><os><type>hvm</type><loader readonly='yes'%s type='pflash'>/usr/share/OVMF/%s</loader>"
          "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/a_VARS.fd</nvram></os></domain>")


def test_secure_boot_asks_the_autoselection_for_the_features():
    for wanted, text in ((False, 'no'), (True, 'yes')):
        config = desired(firmware='uefi', secure_boot=wanted)['config']
        xml = to_text(render_domain('a', config, list(config)))
        assert "firmware='efi'" in xml or 'firmware="efi"' in xml
        for name in ('secure-boot', 'enrolled-keys'):
            assert ("<feature enabled='%s' name='%s'/>" % (text, name)) in xml.replace('"', "'"), xml
    xml = to_text(render_domain('a', desired(firmware='uefi')['config'], ['firmware']))
    assert '<feature ' not in xml          # not set: libvirt's own first choice


def test_the_chosen_loader_reads_back_and_compares():
    secure = parse_domain(parse_xml(CHOSEN % (" secure='yes'", 'OVMF_CODE_4M.ms.fd')))
    plain = parse_domain(parse_xml(CHOSEN % ('', 'OVMF_CODE_4M.fd')))
    assert secure['secure_boot'] is True and plain['secure_boot'] is False
    want_off = desired(firmware='uefi', secure_boot=False)['config']['firmware']
    assert same_setting('firmware', want_off, plain) and not same_setting('firmware', want_off, secure)
    assert same_setting('firmware', desired(firmware='uefi')['config']['firmware'], secure)   # not set: any
    asked = parse_domain(parse_xml("<domain><name>a</name><os firmware='efi'><type>hvm</type><firmware>"
                                   "<feature enabled='no' name='secure-boot'/></firmware></os></domain>"))
    assert asked['secure_boot'] is False
    assert parse_domain(parse_xml("<domain><name>a</name><os><type>hvm</type></os></domain>"))['secure_boot'] is None


@pytest.mark.parametrize('changes, message', [
    (dict(secure_boot=True), 'Option uefi_loader/uefi_nvram_template/secure_boot: set firmware=uefi too'),
    (dict(firmware='bios', secure_boot=False), 'Option secure_boot: only with firmware=uefi'),
    (dict(firmware='uefi', uefi_loader='/c.fd', secure_boot=True), "Option secure_boot: only with libvirt's firmware"),
])
def test_secure_boot_needs_the_autoselection(changes, message):
    with pytest.raises(StrataError, match='^' + message.replace('(', r'\(').replace(')', r'\)')):
        desired(**changes)
