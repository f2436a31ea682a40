# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Safe XML parsing, small editing helpers and the semantic comparison of libvirt XML.

Private to strata.libvirt; no compatibility promise.
"""

import traceback

LXML_IMPORT_ERROR = None
try:
    from lxml import etree
    HAS_LXML = True
except ImportError:
    etree = None
    HAS_LXML = False
    LXML_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

# Elements libvirt generates or that we manage separately: never part of a semantic comparison.
IGNORED_TAGS = frozenset(['uuid', 'metadata'])


def require_lxml(module):
    if not HAS_LXML:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib('lxml'), exception=LXML_IMPORT_ERROR)


def _parser():
    # No entity expansion, no network, no DTD loading: user XML cannot read files or explode.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           remove_blank_text=True, remove_comments=True, remove_pis=True, huge_tree=False)


def parse_xml(text, option='xml', root_tag=None):
    """Parse text into an element; a StrataError naming the option when it is not acceptable."""
    if not isinstance(text, (str, bytes)) or not (text.strip() if isinstance(text, str) else text.strip()):
        raise StrataError('Option %s: empty XML' % option)
    if isinstance(text, str):
        text = text.encode('utf-8')
    try:
        root = etree.fromstring(text, _parser())
    except etree.XMLSyntaxError as exc:
        raise StrataError('Option %s: malformed XML: %s' % (option, exc))
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise StrataError('Option %s: a DOCTYPE or entity declarations are not allowed in libvirt XML' % option)
    if root_tag is not None and root.tag != root_tag:
        raise StrataError("Option %s: the root element must be <%s>, not <%s>" % (option, root_tag, root.tag))
    return root


def to_text(elem, pretty=True):
    """Serialise an element (re-indented) as text."""
    if pretty:
        elem = etree.fromstring(etree.tostring(elem), _parser())
    return etree.tostring(elem, pretty_print=pretty, encoding='unicode')


def copy(elem):
    return etree.fromstring(etree.tostring(elem), _parser())


def new_element(tag, attrib=None, text=None):
    elem = etree.Element(tag)
    for key, value in (attrib or {}).items():
        if value is not None:
            elem.set(key, str(value))
    if text is not None:
        elem.text = str(text)
    return elem


def sub_element(parent, tag, attrib=None, text=None):
    elem = new_element(tag, attrib, text)
    parent.append(elem)
    return elem


def child(parent, tag, create=False):
    """First child with this tag, optionally created."""
    found = parent.find(tag)
    if found is None and create:
        found = sub_element(parent, tag)
    return found


def remove_children(parent, tag):
    for elem in parent.findall(tag):
        parent.remove(elem)


def text_of(parent, path, default=None):
    elem = parent.find(path)
    if elem is None or elem.text is None:
        return default
    return elem.text.strip()


def _norm(value):
    value = (value or '').strip()
    if value.isdigit():
        return str(int(value, 10))  # 0755 == 755, 0001 == 1
    return value


def _describe(elem):
    attrs = ' '.join('%s=%r' % (k, v) for k, v in sorted(elem.attrib.items()))
    return '<%s%s>' % (elem.tag, (' ' + attrs) if attrs else '')


def xml_differences(desired, current, ignore=IGNORED_TAGS):
    """How current departs from desired, comparing only what desired specifies.

    - every attribute of a desired element must exist in current with the same value;
      attributes only current has are libvirt's defaults or generated values and are ignored;
    - text is compared when desired has text (numbers compare numerically);
    - children are grouped by tag; a tag absent from desired is ignored (generated, e.g. <mac>,
      PCI <address>); for a tag present in desired, current must have as many such children, each
      matching one desired child in any order (so removing a <host> from a list is a difference).
    Returns a list of human-readable differences; empty means equal.
    """
    diffs = []
    _compare(desired, current, '/' + str(desired.tag), diffs, ignore)
    return diffs


def _compare(desired, current, path, diffs, ignore):
    if desired.tag != current.tag:
        diffs.append('%s: element <%s> expected, found <%s>' % (path, desired.tag, current.tag))
        return
    for key, value in sorted(desired.attrib.items()):
        have = current.get(key)
        if have is None or _norm(have) != _norm(value):
            diffs.append('%s/@%s: %r, wanted %r' % (path, key, have, value))
    if _norm(desired.text) and _norm(desired.text) != _norm(current.text):
        diffs.append('%s: text %r, wanted %r' % (path, (current.text or '').strip(), desired.text.strip()))
    groups = {}
    for elem in desired:
        if isinstance(elem.tag, str) and elem.tag not in ignore:
            groups.setdefault(elem.tag, []).append(elem)
    for tag, wanted in groups.items():
        have = [elem for elem in current if elem.tag == tag]
        sub = '%s/%s' % (path, tag)
        if len(wanted) == 1 and len(have) == 1:
            _compare(wanted[0], have[0], sub, diffs, ignore)
            continue
        unused = list(have)
        for elem in wanted:
            match = None
            for candidate in unused:
                if not xml_differences(elem, candidate, ignore):
                    match = candidate
                    break
            if match is None:
                diffs.append('%s: no element matches %s' % (sub, _describe(elem)))
            else:
                unused.remove(match)
        if len(have) > len(wanted):
            for elem in unused[:len(have) - len(wanted)]:
                diffs.append('%s: unexpected element %s' % (sub, _describe(elem)))


def stripped(elem, tags=IGNORED_TAGS):
    """A copy of elem without the given top-level children (for readable diffs)."""
    elem = copy(elem)
    for tag in tags:
        remove_children(elem, tag)
    return elem
