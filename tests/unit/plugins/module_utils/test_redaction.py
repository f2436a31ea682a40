# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The redaction functions on their own (pure): _image.source.redact_url / url_secrets and _seed.redact on the
YAML forms a user-data may take. The modules' use of them is in tests/unit/plugins/modules/test_secrets.py."""

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._image.source import redact_url, url_secrets
from ansible_collections.strata.libvirt.plugins.module_utils._seed.redact import redact, redact_text


@pytest.mark.parametrize('url, shown, secrets', [
    ('https://u:p%40ss@h:8080/a.qcow2', 'https://u:<redacted>@h:8080/a.qcow2', {'p%40ss', 'p@ss'}),
    ('https://ghp_token@h/a.qcow2', 'https://<redacted>@h/a.qcow2', {'ghp_token'}),
    ('https://u:@h/a', 'https://u:<redacted>@h/a', set()),
    ('https://h/a?x=1&X-Amz-Signature=abc&X-Amz-Credential=c%2F1&sig=s&api_key=k&token=',
     'https://h/a?x=1&X-Amz-Signature=<redacted>&X-Amz-Credential=<redacted>&sig=<redacted>&api_key=<redacted>&token=',
     {'abc', 'c%2F1', 'c/1', 's', 'k'}),
    ('https://h/a.qcow2#frag', 'https://h/a.qcow2#frag', set()),
    ('/srv/images/a.qcow2', '/srv/images/a.qcow2', set()),
    ('file:///srv/a.qcow2', 'file:///srv/a.qcow2', set()),
])
def test_redact_url(url, shown, secrets):
    assert redact_url(url) == shown and url_secrets(url) == secrets
    assert redact_url(shown) == shown  # idempotent: a recorded source compares equal to the next run's


def test_redact_text_blocks_lists_and_flow():
    text = ('#cloud-config\n'
            'password: |\n  line-a\n\n  line-b\n'
            'tokens:\n- t-1\n- t-2\n'
            'secrets:\n  nested: {deep: s-1}\n'
            'users: [{name: a, passwd: "p-1,p-2"}, {name: b, lock_passwd: true}]\n'
            '{"token": "j-1", "name": "x"}\n'
            'chpasswd:\n  expire: false\n  list: |\n    root:l-1\n'
            'pgp: |\n  -----BEGIN PGP PRIVATE KEY BLOCK-----\n  k-1\n  -----END PGP PRIVATE KEY BLOCK-----\n'
            'after: kept\n')
    red = redact_text(text)
    for secret in ('line-a', 'line-b', 't-1', 't-2', 's-1', 'p-1', 'p-2', 'j-1', 'l-1', 'k-1'):
        assert secret not in red, (secret, red)
    assert 'password: <redacted>\ntokens: <redacted>\nsecrets: <redacted>\n' in red
    assert 'lock_passwd: true' in red and '"name": "x"' in red and 'expire: false' in red and 'after: kept' in red
    assert '<redacted private key>' in red


def test_redact_dict():
    red = redact({'chpasswd': {'list': ['root:l-1'], 'expire': False}, 'lock_passwd': False, 'private_keys': None,
                  'apt': {'proxy': 'http://u:px-1@proxy:3128'}})
    assert red == {'chpasswd': {'list': ['root:<redacted>'], 'expire': False}, 'lock_passwd': False,
                   'private_keys': None, 'apt': {'proxy': 'http://u:<redacted>@proxy:3128'}}
