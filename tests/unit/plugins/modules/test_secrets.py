# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""No secret reaches a diff, a module result (its invocation included) or a file others may read: the modules run
in-process (test:///default for libvirt, tmp_path for files, a local HTTP server with basic auth for images).

Each test names the protection it proves; it fails when that protection is removed:
- cloud_init: _seed.redact (diff), _seed.module.ReportingModule (invocation), no_log of root_password (everywhere,
  also inside other values, and in items through _batch);
- image: _image.source.redact_url (actions, facts, messages, warnings, sidecar, ownership registry) and
  url_secrets in the module's no_log values (invocation);
- domain: _domain.facts.without_secrets (diff, facts) and secret_values in the no_log values (invocation).
"""

import base64
import hashlib
import json
import os
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible.module_utils.basic import AnsibleModule

pytest.importorskip('pycdlib')

from ansible_collections.strata.libvirt.plugins.modules import cloud_init, domain, image, pool
from ansible_collections.strata.libvirt.plugins.module_utils._image.cache import sidecar_path
from ansible_collections.strata.libvirt.plugins.module_utils._seed import iso

NO_LOG = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
HASH = '$6$rounds=4096$saltsalt$c2VjcmV0LWhhc2gtb2YtdGhlLXVzZXI'
LIST_PASSWORD = 'list-pw-7f3a'
MULTI_LINE = 'first-line-9c1\nsecond-line-9c1'
URL_PASSWORD = 'apt-pw-51e0'
KEY_BODY = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQy'
PRIVATE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n-----END OPENSSH PRIVATE KEY-----\n' % KEY_BODY
SECRETS = (HASH, LIST_PASSWORD, 'first-line-9c1', 'second-line-9c1', URL_PASSWORD, KEY_BODY)


def user_data():
    """A #cloud-config whose secrets no option marks: cloud_init cannot no_log them, it must redact them."""
    return {
        'users': [{'name': 'ops', 'passwd': HASH, 'lock_passwd': False}],
        'chpasswd': {'expire': False, 'list': 'ops:%s\n' % LIST_PASSWORD,
                     'users': [{'name': 'svc', 'password': MULTI_LINE, 'type': 'text'}]},
        'ssh_keys': {'ed25519_private': PRIVATE_KEY, 'ed25519_public': 'ssh-ed25519 AAAAC3Nza host'},
        'write_files': [{'path': '/root/.ssh/id_ed25519', 'content': PRIVATE_KEY, 'permissions': '0600'}],
        'apt': {'sources': {'internal': {'source': 'deb https://ops:%s@apt.lab.test/debian main' % URL_PASSWORD}}},
    }


def leaked(text):
    return [secret for secret in SECRETS if secret in text]


# ---------------------------------------------------------------- cloud_init

def test_seed_diff_redacts_what_no_option_marks(run_module, tmp_path):
    """_seed.redact: the diff (before and after) shows the structure, never the values of secret keys."""
    path = str(tmp_path / 'seed.iso')
    first = run_module(cloud_init, diff=True, path=path, hostname='web1', user_data=user_data())
    assert first['changed'] and not leaked(json.dumps(first['diff']))
    # the seed itself holds them: that is what it is for (and why it is 0600, see test_file_modes)
    written = iso.read_iso(open(path, 'rb').read())[0]['user-data']
    assert all(secret in written for secret in SECRETS)
    changed = run_module(cloud_init, check=True, diff=True, path=path, hostname='web2', user_data=user_data())
    assert changed['changed'] and changed['diff']['before'] and not leaked(json.dumps(changed['diff']))
    for side in ('before', 'after'):
        text = changed['diff'][side]
        assert 'passwd: <redacted>' in text and 'list: <redacted>' in text and 'password: <redacted>' in text
        assert 'ed25519_private: <redacted>' in text and '<redacted private key>' in text
        assert 'https://ops:<redacted>@apt.lab.test/debian' in text
        assert 'lock_passwd: false' in text and 'ssh-ed25519 AAAAC3Nza host' in text  # not secrets: kept


def test_seed_raw_user_data_is_redacted_too(run_module, tmp_path):
    """_seed.redact on a string user_data (any YAML, also a JSON line): what is given verbatim is redacted too."""
    raw = ('#cloud-config\nusers:\n  - name: ops\n    hashed_passwd: "%s"\nchpasswd:\n  list:\n    - ops:%s\n'
           'runcmd: [[curl, "https://ops:%s@apt.lab.test/key"]]\nbootcmd: [{"token": "%s"}]\n'
           % (HASH, LIST_PASSWORD, URL_PASSWORD, KEY_BODY))
    result = run_module(cloud_init, diff=True, path=str(tmp_path / 'seed.iso'), user_data=raw)
    assert result['changed'] and not leaked(json.dumps(result['diff'])), result['diff']['after']
    assert not leaked(json.dumps(result['invocation']))


def test_seed_result_reports_the_arguments_redacted(run_module, tmp_path):
    """_seed.module.ReportingModule: the module arguments in the result (invocation, what `register` keeps and -vvv
    prints) are redacted like the diff, in items too."""
    path = str(tmp_path / 'seed.iso')
    network = {'version': 2, 'wifis': {'wlan0': {'access-points': {'lab': {'password': LIST_PASSWORD}}}}}
    result = run_module(cloud_init, path=path, user_data=user_data(), write_files=[{'path': '/k', 'content': PRIVATE_KEY}],
                        network_config=network)
    assert result['changed'] and not leaked(json.dumps(result)), result['invocation']
    args = result['invocation']['module_args']
    assert args['user_data']['users'][0]['passwd'] == '<redacted>' and args['path'] == path
    items = run_module(cloud_init, items=[{'path': str(tmp_path / 'a.iso'), 'user_data': user_data()}])
    assert items['changed'] and not leaked(json.dumps(items))
    assert items['invocation']['module_args']['items'][0]['user_data']['chpasswd']['list'] == 'ops:<redacted>\n'
    failed = run_module(cloud_init, path=str(tmp_path / 'missing' / 'seed.iso'), user_data=user_data())
    assert failed['failed'] and not leaked(json.dumps(failed))


def test_root_password_is_no_log_wherever_it_appears(run_module, tmp_path):
    """no_log=True on root_password (and _batch adding an item's no_log values to the module's): Ansible hides the
    value in every part of the result, inside other values too (a runcmd line the diff shows)."""
    secret = 'root-pw-2f9d61'
    hint = ['sh', '-c', 'echo %s > /root/hint' % secret]
    result = run_module(cloud_init, diff=True, path=str(tmp_path / 'seed.iso'), root_password=secret, runcmd=[hint])
    assert result['changed'] and secret not in json.dumps(result)
    assert result['invocation']['module_args']['root_password'] == NO_LOG
    assert 'echo ******** > /root/hint' in result['diff']['after']
    items = run_module(cloud_init, diff=True, items=[{'path': str(tmp_path / 'i.iso'), 'root_password': secret,
                                                      'runcmd': [hint]}])
    assert items['changed'] and secret not in json.dumps(items)
    assert items['invocation']['module_args']['items'][0]['root_password'] == NO_LOG
    assert 'echo ******** > /root/hint' in items['diff'][0]['after']


# ---------------------------------------------------------------- image: credentials in URLs

RAW = b'\x00' * 4096 + b'strata image ' * 300
USER, PASSWORD, TOKEN = 'mirror', 'img-pw-6b2c', 'tok-0e5d77'


class _Handler(BaseHTTPRequestHandler):
    """/disk.raw and /SHA256SUMS, to a client that sends basic auth mirror:img-pw-6b2c."""

    def do_GET(self):
        wanted = 'Basic ' + base64.b64encode(('%s:%s' % (USER, PASSWORD)).encode()).decode()
        if self.headers.get('Authorization') != wanted:
            self.send_response(401)
            self.send_header('WWW-Authenticate', 'Basic realm="images"')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        name = self.path.split('?', 1)[0].lstrip('/')
        body = {'disk.raw': RAW,
                'SHA256SUMS': ('%s  disk.raw\n' % hashlib.sha256(RAW).hexdigest()).encode()}.get(name)
        self.send_response(200 if body is not None else 404)
        self.send_header('Content-Length', str(len(body or b'')))
        self.end_headers()
        self.wfile.write(body or b'')

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror():
    """The base URL of a local HTTP server that wants basic auth."""
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield '127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def image_args(mirror, tmp_path, password=PASSWORD):
    return dict(source='http://%s:%s@%s/disk.raw?token=%s' % (USER, password, mirror, TOKEN),
                checksum='sha256:http://%s:%s@%s/SHA256SUMS' % (USER, password, mirror),
                cache_dir=str(tmp_path / 'cache'), retries=0)


def test_image_url_credentials_are_redacted_in_texts_and_records(run_module, hv, mirror, tmp_path):
    """_image.source.redact_url: actions, facts, diff, the sidecar and the ownership registry name the source with
    <redacted> credentials; the download itself used them (the server wants them)."""
    (tmp_path / 'pool').mkdir()
    (tmp_path / 'pool' / 'base.raw').write_bytes(b'')
    assert run_module(pool, name='strata-ut-sec', path=str(tmp_path / 'pool'), state='running')['changed']
    args = dict(image_args(mirror, tmp_path), pool='strata-ut-sec', volume='base.raw')
    shown = 'http://%s:<redacted>@%s/disk.raw?token=<redacted>' % (USER, mirror)
    check = run_module(image, check=True, diff=True, **args)
    assert check['changed'] and check['actions'][0] == 'download %s' % shown
    assert check['actions'][1] == 'verify its sha256 against http://%s:<redacted>@%s/SHA256SUMS' % (USER, mirror)
    result = run_module(image, diff=True, **args)
    assert result['changed'] and result['source'] == shown, result.get('msg')
    assert open(result['path'], 'rb').read() == RAW
    for what in (check, result):
        assert PASSWORD not in json.dumps(what) and TOKEN not in json.dumps(what)
    with open(sidecar_path(result['path'])) as handle:
        sidecar = handle.read()
    assert json.loads(sidecar)['source'] == shown and PASSWORD not in sidecar and TOKEN not in sidecar
    owners = os.path.join(run_module.state_dir, 'owners')
    with open(os.path.join(owners, os.listdir(owners)[0])) as handle:
        registry = handle.read()
    assert json.loads(registry)['volumes'][str(tmp_path / 'pool' / 'base.raw')]['image']['source'] == shown
    assert PASSWORD not in registry and TOKEN not in registry
    # the same source again: the record (redacted on both sides) says the cache is current
    assert not run_module(image, **args)['changed']


def test_image_url_credentials_are_no_log_in_the_invocation(run_module, mirror, tmp_path):
    """url_secrets in the image module's no_log values: the module arguments Ansible reports hide the password and
    the token (Ansible's ********), though source and checksum are no no_log options."""
    result = run_module(image, **image_args(mirror, tmp_path))
    assert result['changed'], result.get('msg')
    args = result['invocation']['module_args']
    assert args['source'] == 'http://%s:********@%s/disk.raw?token=********' % (USER, mirror)
    assert args['checksum'] == 'sha256:http://%s:********@%s/SHA256SUMS' % (USER, mirror)


def test_image_url_credentials_are_redacted_in_failures_and_warnings(run_module, mirror, tmp_path, monkeypatch):
    """_image.source.redact_url in the messages of failed transfers, and in the warning of checksum none."""
    warned = []
    # record warnings where the module emits them (how they reach the result depends on what else the process loaded)
    monkeypatch.setattr(AnsibleModule, 'warn', lambda self, msg: warned.append(msg))
    wrong = 'wrong-pw-c4a9'
    failed = run_module(image, **image_args(mirror, tmp_path, password=wrong))
    assert failed['failed'] and failed['msg'].startswith(
        'Cannot fetch the SUMS file http://%s:<redacted>@%s/SHA256SUMS: HTTP 401' % (USER, mirror)), failed['msg']
    assert wrong not in json.dumps(failed)
    unverified = dict(image_args(mirror, tmp_path, password=wrong), checksum='none')
    failed = run_module(image, **unverified)
    assert failed['failed'] and 'Download of http://%s:<redacted>@%s/disk.raw?token=<redacted> failed: HTTP 401' % (
        USER, mirror) in failed['msg'], failed['msg']
    assert 'checksum is none: the image http://%s:<redacted>@%s/disk.raw?token=<redacted> is not verified' % (
        USER, mirror) in warned[-1], warned
    assert wrong not in json.dumps([failed, warned]) and TOKEN not in json.dumps([failed, warned])


# ---------------------------------------------------------------- domain: graphics passwords in option xml

def test_domain_xml_passwords_stay_out_of_diff_facts_and_invocation(run_module, hv):
    """_domain.facts.without_secrets (diff, facts) and secret_values in the no_log values (invocation, all of the
    result of a run with option xml); libvirt keeps the password (read back with VIR_DOMAIN_XML_SECURE)."""
    secret = 'vnc-pw-81d3'
    xml = ("<domain type='test'><name>strata-ut-vnc</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>"
           "<devices><graphics type='vnc' port='-1' passwd='%s'/></devices></domain>" % secret)
    result = run_module(domain, diff=True, name='strata-ut-vnc', xml=xml)
    assert result['changed'] and secret not in json.dumps(result), result.get('msg')
    assert "passwd='********'" in result['invocation']['module_args']['xml']
    assert secret in hv.lookupByName('strata-ut-vnc').XMLDesc(1)  # VIR_DOMAIN_XML_SECURE: the definition has it
    # a run without option xml has no no_log value: the facts read from libvirt are masked by without_secrets alone
    facts = run_module(domain, diff=True, name='strata-ut-vnc', memory='128M')
    assert facts['changed'] and secret not in json.dumps(facts), facts.get('msg')
    assert 'passwd="********"' in facts['domain']['xml'].replace("'", '"')
    assert run_module(domain, name='strata-ut-vnc', state='absent')['changed']
