# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import pytest

pytest.importorskip('lxml')

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._xml import parse_xml, xml_differences, to_text


def test_malformed_xml_names_the_option():
    with pytest.raises(StrataError, match=r'Option xml: malformed XML'):
        parse_xml('<network><name>x</name>', 'xml')


def test_entities_are_not_resolved_and_doctype_refused(tmp_path):
    secret = tmp_path / 'secret'
    secret.write_text('TOPSECRET')
    text = '<!DOCTYPE n [<!ENTITY e SYSTEM "file://%s">]><network><name>&e;</name></network>' % secret
    with pytest.raises(StrataError, match='DOCTYPE'):
        parse_xml(text, 'xml')


def test_billion_laughs_is_refused():
    text = ('<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<network><name>&b;</name></network>')
    with pytest.raises(StrataError):
        parse_xml(text, 'xml')


def test_root_tag_checked():
    with pytest.raises(StrataError, match='root element must be <pool>'):
        parse_xml('<network/>', 'xml', root_tag='pool')


CURRENT = '''<network>
  <name>n</name><uuid>1cfd5f0a-06fb-47ae-8ed8-8d51721a2fbd</uuid>
  <forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>
  <bridge name='virbr3' stp='on' delay='0'/>
  <mac address='52:54:00:aa:bb:cc'/>
  <ip address='10.240.1.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.240.1.100' end='10.240.1.200'/>
      <host mac='52:54:00:00:00:01' name='a' ip='10.240.1.10'/>
      <host mac='52:54:00:00:00:02' name='b' ip='10.240.1.11'/>
    </dhcp>
  </ip>
</network>'''


def test_generated_values_are_ignored_and_order_does_not_matter():
    desired = parse_xml('''<network><name>n</name><forward mode='nat'/>
      <ip netmask='255.255.255.0' address='10.240.1.1'><dhcp>
        <host mac='52:54:00:00:00:02' name='b' ip='10.240.1.11'/>
        <host mac='52:54:00:00:00:01' name='a' ip='10.240.1.10'/>
        <range start='10.240.1.100' end='10.240.1.200'/>
      </dhcp></ip></network>''')
    assert xml_differences(desired, parse_xml(CURRENT)) == []


def test_removed_list_element_is_a_difference():
    desired = parse_xml('''<network><name>n</name><ip address='10.240.1.1' netmask='255.255.255.0'><dhcp>
        <host mac='52:54:00:00:00:01' name='a' ip='10.240.1.10'/></dhcp></ip></network>''')
    diffs = xml_differences(desired, parse_xml(CURRENT))
    assert len(diffs) == 1 and 'unexpected element <host' in diffs[0] and '52:54:00:00:00:02' in diffs[0]


def test_changed_attribute_and_text_are_differences():
    desired = parse_xml("<network><name>m</name><bridge name='virbr9'/></network>")
    diffs = xml_differences(desired, parse_xml(CURRENT))
    assert any('/network/name' in d and "'m'" in d for d in diffs)
    assert any('/network/bridge/@name' in d and 'virbr9' in d for d in diffs)


def test_numbers_compare_numerically():
    desired = parse_xml('<pool><target><permissions><mode>755</mode></permissions></target></pool>')
    current = parse_xml('<pool><target><permissions><mode>0755</mode></permissions></target></pool>')
    assert xml_differences(desired, current) == []


def test_to_text_reindents():
    assert to_text(parse_xml('<a><b/></a>')) == '<a>\n  <b/>\n</a>\n'
