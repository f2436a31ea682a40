# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt virtual networks: normalise, plan (pure), apply.

Static DHCP hosts and DNS hosts are changed with virNetworkUpdate (live and persistent when the
network is active, persistent only when it is not), so adding, changing or deleting one never
restarts the network. Any other change redefines the persistent definition; an active network then
reports restart_required, or is restarted when restart=true.

Private to strata.libvirt; no compatibility promise.
"""

import ipaddress

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _common
from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan, Resource, RunState
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils import _xml

FORWARD_MODES = ('nat', 'route', 'isolated', 'bridge', 'open')
# The structured settings, in the order they appear in diffs.
CONFIG_KEYS = ('forward', 'bridge', 'mtu', 'domain', 'address', 'dhcp_range', 'hosts', 'dns_hosts')
# Settings virNetworkUpdate changes on a running network without a restart.
LIVE_KEYS = ('hosts', 'dns_hosts')
SECTIONS = {'hosts': 'dhcp host', 'dns_hosts': 'dns host'}
# The structured options: option xml replaces them.
STRUCTURED = ('forward', 'bridge', 'address', 'dhcp_range', 'hosts', 'dns_hosts', 'domain', 'mtu')


def argument_spec():
    """The network module's argument spec (a new dict)."""
    spec = _common.common_argument_spec()
    spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=list(_common.RUN_STATES)),
        autostart=dict(type='bool'),
        forward=dict(type='str', choices=list(FORWARD_MODES)),
        bridge=dict(type='str'),
        address=dict(type='str'),
        dhcp_range=dict(type='dict', options=dict(start=dict(type='str', required=True),
                                                  end=dict(type='str', required=True))),
        hosts=dict(type='list', elements='dict', options=dict(name=dict(type='str'), mac=dict(type='str'),
                                                              ip=dict(type='str', required=True))),
        dns_hosts=dict(type='list', elements='dict', options=dict(ip=dict(type='str', required=True),
                                                                  hostnames=dict(type='list', elements='str',
                                                                                 required=True))),
        domain=dict(type='str'),
        mtu=dict(type='int'),
        restart=dict(type='bool', default=False),
        external=dict(type='bool', default=False),
        xml=dict(type='str'),
    )
    return spec


CONSTRAINTS = dict(mutually_exclusive=[('xml', key) for key in STRUCTURED])


# ---------------------------------------------------------------- normalise (XML -> dict)

def _ipv4(root, create=False):
    for elem in root.findall('ip'):
        if elem.get('family', 'ipv4') == 'ipv4':
            return elem
    return _xml.sub_element(root, 'ip') if create else None


def _prefix(ip_elem):
    if ip_elem.get('prefix'):
        return int(ip_elem.get('prefix'))
    if ip_elem.get('netmask'):
        return ipaddress.IPv4Network('0.0.0.0/%s' % ip_elem.get('netmask')).prefixlen
    return None


def _host_entry(mac=None, name=None, ip=None):
    entry = {}
    if mac:
        entry['mac'] = mac.lower()
    if name:
        entry['name'] = name
    if ip:
        entry['ip'] = str(ip)
    return entry


def _host_key(entry):
    return ('mac', entry['mac']) if entry.get('mac') else ('name', entry.get('name'))


def _sorted_hosts(hosts):
    return sorted(hosts, key=lambda e: (e.get('mac') or '', e.get('name') or '', e.get('ip') or ''))


def _dns_entry(ip, hostnames):
    return {'ip': str(ip), 'hostnames': sorted(hostnames)}


def parse_network(root):
    """Normalised settings of a network XML; libvirt's generated values (uuid, MAC, stp...) are left out."""
    forward = root.find('forward')
    bridge = root.find('bridge')
    mtu = root.find('mtu')
    domain = root.find('domain')
    config = {
        'forward': 'isolated' if forward is None else forward.get('mode', 'nat'),
        'bridge': bridge.get('name') if bridge is not None else None,
        'mtu': int(mtu.get('size')) if mtu is not None and mtu.get('size') else None,
        'domain': domain.get('name') if domain is not None else None,
        'address': None, 'dhcp_range': None, 'hosts': [], 'dns_hosts': [],
    }
    ip = _ipv4(root)
    if ip is not None and ip.get('address'):
        config['address'] = '%s/%s' % (ip.get('address'), _prefix(ip))
        rng = ip.find('dhcp/range')
        if rng is not None:
            config['dhcp_range'] = {'start': rng.get('start'), 'end': rng.get('end')}
        config['hosts'] = _sorted_hosts([_host_entry(h.get('mac'), h.get('name'), h.get('ip'))
                                         for h in ip.findall('dhcp/host')])
    config['dns_hosts'] = sorted((_dns_entry(h.get('ip'), [n.text.strip() for n in h.findall('hostname') if n.text])
                                  for h in root.findall('dns/host')), key=lambda e: e['ip'])
    return config


# ---------------------------------------------------------------- edit (dict -> XML)

def _set_forward(root, mode):
    forward = root.find('forward')
    current = None if forward is None else forward.get('mode', 'nat')
    if current == mode or (mode == 'isolated' and forward is None):
        return
    if forward is not None:
        root.remove(forward)
    if mode != 'isolated':
        _xml.sub_element(root, 'forward', {'mode': mode})


def _set_address(root, address):
    iface = ipaddress.IPv4Interface(address)
    ip = _ipv4(root, create=True)
    ip.set('address', str(iface.ip))
    if 'netmask' in ip.attrib:
        del ip.attrib['netmask']
    ip.set('prefix', str(iface.network.prefixlen))


def _dhcp(root):
    return _xml.child(_ipv4(root, create=True), 'dhcp', create=True)


def _set_dhcp_range(root, rng):
    dhcp = _dhcp(root)
    _xml.remove_children(dhcp, 'range')
    if rng:
        dhcp.insert(0, _xml.new_element('range', {'start': rng['start'], 'end': rng['end']}))


def host_element(entry):
    return _xml.new_element('host', {'mac': entry.get('mac'), 'name': entry.get('name'), 'ip': entry.get('ip')})


def dns_host_element(entry):
    elem = _xml.new_element('host', {'ip': entry['ip']})
    for hostname in entry['hostnames']:
        _xml.sub_element(elem, 'hostname', text=hostname)
    return elem


def _set_hosts(root, hosts):
    dhcp = _dhcp(root)
    _xml.remove_children(dhcp, 'host')
    for entry in hosts:
        dhcp.append(host_element(entry))


def _set_dns_hosts(root, hosts):
    dns = _xml.child(root, 'dns', create=True)
    _xml.remove_children(dns, 'host')
    for entry in hosts:
        dns.append(dns_host_element(entry))


_SETTERS = {
    'forward': _set_forward,
    'bridge': lambda root, value: _xml.child(root, 'bridge', create=True).set('name', value),
    'mtu': lambda root, value: _xml.child(root, 'mtu', create=True).set('size', str(value)),
    'domain': lambda root, value: _xml.child(root, 'domain', create=True).set('name', value),
    'address': _set_address,
    'dhcp_range': _set_dhcp_range,
    'hosts': _set_hosts,
    'dns_hosts': _set_dns_hosts,
}


def render_network(name, config, base=None):
    """XML for the desired settings: base (the current persistent XML) edited, or a new network."""
    root = _xml.copy(base) if base is not None else _xml.new_element('network')
    if base is None:
        _xml.sub_element(root, 'name', text=name)
    for key in CONFIG_KEYS:
        if config.get(key) is not None:
            _SETTERS[key](root, config[key])
    return root


# ---------------------------------------------------------------- validation

def item_label(params):
    """How messages name a network of several items."""
    return params.get('name')


def desired_from_params(params):
    """Validated desired state; raises StrataError naming the option and value."""
    desired = _common.desired_base(params)
    desired.update(autostart=params.get('autostart'), restart=bool(params.get('restart')), config={}, xml=None,
                   external=bool(params.get('external')))
    if desired['external']:
        # someone else's network, used as it is: only whether it runs and starts at boot
        given = [key for key in STRUCTURED + ('xml', 'cluster') if params.get(key) is not None]
        given += [key for key in ('adopt', 'restart') if params.get(key)]
        if params['state'] == 'absent':
            given.append('state=absent')
        if given:
            raise StrataError('Option external: an external network is only started, stopped or set to autostart; '
                              'not with %s' % ', '.join(given))
        return desired
    if params['state'] == 'absent':
        return desired
    if params.get('xml'):
        desired['xml'] = _common.desired_xml(params['xml'], desired['name'], 'network')
        return desired

    config = desired['config']
    forward = params.get('forward')
    if forward is not None:
        config['forward'] = forward
    if params.get('bridge') is not None:
        config['bridge'] = _validate.bridge(params['bridge'], 'bridge')
    if params.get('mtu') is not None:
        if not 68 <= params['mtu'] <= 65535:
            raise StrataError('Option mtu: %r is outside 68..65535' % params['mtu'])
        config['mtu'] = params['mtu']
    if params.get('domain') is not None:
        config['domain'] = _validate.hostname(params['domain'], 'domain')
    if params.get('address') is not None:
        iface = _validate.ipv4_interface(params['address'], 'address')
        config['address'] = '%s/%s' % (iface.ip, iface.network.prefixlen)
    if params.get('dhcp_range') is not None:
        rng = params['dhcp_range']
        config['dhcp_range'] = {'start': str(_validate.ipv4_address(rng.get('start'), 'dhcp_range.start')),
                                'end': str(_validate.ipv4_address(rng.get('end'), 'dhcp_range.end'))}
    if params.get('hosts') is not None:
        hosts = []
        for index, host in enumerate(params['hosts']):
            option = 'hosts[%d]' % index
            if not host.get('mac') and not host.get('name'):
                raise StrataError('Option %s: give a mac, a name or both' % option)
            mac = _validate.mac(host['mac'], option + '.mac') if host.get('mac') else None
            host_name = _validate.hostname(host['name'], option + '.name') if host.get('name') else None
            ip = _validate.ipv4_address(host.get('ip'), option + '.ip')
            hosts.append(_host_entry(mac, host_name, ip))
        _validate.no_duplicates([h.get('mac') for h in hosts], 'hosts (mac)')
        _validate.no_duplicates([h['ip'] for h in hosts], 'hosts (ip)')
        _validate.no_duplicates([h['name'] for h in hosts if 'name' in h and 'mac' not in h], 'hosts (name)')
        config['hosts'] = _sorted_hosts(hosts)
    if params.get('dns_hosts') is not None:
        entries = []
        for index, host in enumerate(params['dns_hosts']):
            option = 'dns_hosts[%d]' % index
            ip = _validate.ipv4_address(host.get('ip'), option + '.ip')
            names = host.get('hostnames') or []
            if not names:
                raise StrataError('Option %s.hostnames: give at least one host name' % option)
            for pos, hostname in enumerate(names):
                _validate.hostname(hostname, '%s.hostnames[%d]' % (option, pos))
            entries.append(_dns_entry(ip, names))
        _validate.no_duplicates([e['ip'] for e in entries], 'dns_hosts (ip)')
        config['dns_hosts'] = sorted(entries, key=lambda e: e['ip'])
    if config.get('forward') == 'bridge':
        if not config.get('bridge'):
            raise StrataError('Option bridge: forward=bridge needs the name of an existing host bridge')
        for key in ('address', 'dhcp_range', 'hosts', 'mtu', 'domain'):
            if config.get(key):
                raise StrataError('Option %s: not possible with forward=bridge (the host bridge does its own '
                                  'addressing)' % key)
    return desired


def check_subnet(config, address):
    """Checks that need the subnet: DHCP range and host addresses inside it."""
    needs = [key for key in ('dhcp_range', 'hosts') if config.get(key)]
    if not needs:
        return
    if address is None:
        raise StrataError('Option %s: needs option address (the network has no IPv4 address)' % needs[0])
    iface = ipaddress.IPv4Interface(address)
    rng = config.get('dhcp_range')
    if rng:
        start = _validate.in_subnet(ipaddress.IPv4Address(rng['start']), iface, 'dhcp_range.start')
        end = _validate.in_subnet(ipaddress.IPv4Address(rng['end']), iface, 'dhcp_range.end')
        if start > end:
            raise StrataError('Option dhcp_range: start %s is after end %s' % (start, end))
    for index, host in enumerate(config.get('hosts') or []):
        addr = ipaddress.IPv4Address(host['ip'])
        _validate.in_subnet(addr, iface, 'hosts[%d].ip' % index)
        if addr == iface.ip:
            raise StrataError("Option hosts[%d].ip: %s is the network's own address" % (index, addr))


# ---------------------------------------------------------------- planner (pure)

def entry_ops(current, desired, key):
    """(verb, old, new) steps that turn the current entries into the desired ones: deletes, modifies, adds."""
    ident = _host_key if key == 'hosts' else (lambda e: e['ip'])
    have = dict((ident(e), e) for e in current or [])
    want = dict((ident(e), e) for e in desired)
    ops = [('delete', have[k], None) for k in sorted(have, key=str) if k not in want]
    ops += [('modify', have[k], want[k]) for k in sorted(want, key=str) if k in have and have[k] != want[k]]
    ops += [('add', None, want[k]) for k in sorted(want, key=str) if k not in have]
    return ops


def _describe_entry(key, entry):
    if key == 'hosts':
        who = entry.get('mac') or entry.get('name')
        extra = ', '.join(v for v in (entry.get('name') if entry.get('mac') else None, entry.get('ip')) if v)
        return '%s (%s)' % (who, extra)
    return '%s (%s)' % (entry['ip'], ', '.join(entry['hostnames']))


def _update_actions(plan, key, ops, flags):
    section = SECTIONS[key]
    for verb, old, new in ops:
        entry = new or old
        text = '%s %s %s [%s]' % (verb, section, _describe_entry(key, entry), flags)
        if verb == 'modify':
            text = 'modify %s %s -> %s [%s]' % (section, _describe_entry(key, old), _describe_entry(key, new), flags)
        plan.add('update', text, key=key, verb=verb, old=old, new=new, flags=flags)


def plan_network(current, desired):
    """Pure: current normalised state + desired state -> Plan."""
    plan = Plan()
    name = desired['name']

    if desired['state'] == 'absent':
        plan.add_removal('network', name, current, desired)
        return plan

    if desired.get('external'):
        if not current.get('exists'):
            raise StrataError("network '%s' does not exist (external=true uses an existing network and never defines "
                              "one)" % name)
        # whoever owns it keeps it: no mark is added, nothing of its definition changes
        plan.add_run_state('network', name, RunState('network', name, current, dict(desired, adopt=True, cluster=None)),
                           current, desired['autostart'])
        return plan

    run = RunState('network', name, current, desired)
    exists, active, base = run.exists, run.active, run.base

    if desired['xml'] is not None:
        new_root = _common.with_uuid(desired['xml'], base)
        config_diffs = _xml.xml_differences(desired['xml'], base) if base is not None else ['new']
        live_diffs = _xml.xml_differences(desired['xml'], current['live_xml']) if active else []
        plan.diff.add('xml', _xml.to_text(_xml.stripped(base)) if base is not None else None,
                      _xml.to_text(_xml.stripped(new_root)))
        redefine_keys = ['xml'] if config_diffs else []
        live_changes = {}
    else:
        config = desired['config']
        if not exists and 'forward' not in config:
            config = dict(config, forward='nat')  # a new network without forward gets NAT, like libvirt's default
        have = current.get('config') or {}
        address = config.get('address') or have.get('address')
        check_subnet(config, address)
        for key in CONFIG_KEYS:
            if key in config:
                plan.diff.add(key, have.get(key) if exists else None, config[key])
        changed = [key for key in plan.diff.changed_keys() if key in config]
        redefine_keys = [key for key in changed if key not in LIVE_KEYS]
        live_changes = dict((key, config[key]) for key in LIVE_KEYS if key in changed)
        live = current.get('live') or {}
        live_diffs = [key for key in config if key not in LIVE_KEYS and active and live.get(key) != config[key]]
        new_root = render_network(name, config, base)
    _ownership.set_mark(new_root, run.cluster)

    persistent = exists and current.get('persistent')
    plan.add_define('network', name, exists, persistent, redefine_keys, run.adopt_text, _xml.to_text(new_root))
    if not persistent and exists:
        live_changes = {}  # the new definition already holds them; live handled below

    restart = run.stays_active and bool(live_diffs)
    plan.add_restart(restart, desired['restart'], "restart network '%s' to apply %s" % (name, ', '.join(live_diffs)))

    if exists and live_changes:
        redefined = 'define' in plan.ops()
        live_ok = run.stays_active and not (restart and desired['restart'])
        for key, wanted in sorted(live_changes.items()):
            cfg_ops = [] if redefined else entry_ops(current['config'].get(key), wanted, key)
            live_ops = entry_ops((current.get('live') or {}).get(key), wanted, key) if live_ok else []
            if cfg_ops and cfg_ops == live_ops:
                _update_actions(plan, key, cfg_ops, 'live+config')
            else:
                _update_actions(plan, key, cfg_ops, 'config')
                _update_actions(plan, key, live_ops, 'live')

    plan.add_run_state('network', name, run, current, desired['autostart'])
    return plan


# ---------------------------------------------------------------- libvirt side

def lookup_network(conn, name):
    """virNetwork or None."""
    return _common.lookup("network '%s'" % name, conn.networkLookupByName, name, 'VIR_ERR_NO_NETWORK')


def network_facts(state):
    if not state.get('exists'):
        return {'name': state['name'], 'exists': False}
    facts = dict(state['config'])
    live = state.get('live') or {}
    if live.get('bridge'):
        facts['bridge'] = live['bridge']  # the name libvirt chose, when the user did not
    facts.update(name=state['name'], exists=True, uuid=state['uuid'], active=state['active'],
                 persistent=state['persistent'], autostart=state['autostart'], ownership=state['owner'],
                 xml=_xml.to_text(state['xml']))
    return facts


class NetworkResource(Resource):
    kind = 'network'
    reports_restart = True
    desired_from_params = staticmethod(desired_from_params)
    plan = staticmethod(plan_network)
    facts = staticmethod(network_facts)

    def read(self, ctx, desired):
        return read_network(ctx.conn, desired['name'])

    def _net(self, ctx):
        return lookup_network(ctx.conn, self.params['name'])

    def do_define(self, ctx, xml):
        _connection.call(self.what('define'), ctx.conn.networkDefineXML, xml)

    def do_undefine(self, ctx):
        _connection.call(self.what('undefine'), self._net(ctx).undefine)

    def do_start(self, ctx):
        _connection.call(self.what('start'), self._net(ctx).create)

    def do_stop(self, ctx):
        _connection.call(self.what('stop'), self._net(ctx).destroy)

    def do_restart(self, ctx):
        self.do_stop(ctx)
        self.do_start(ctx)

    def do_autostart(self, ctx, value):
        _connection.call(self.what('set autostart of'), self._net(ctx).setAutostart, 1 if value else 0)

    def do_update(self, ctx, key, verb, old, new, flags):
        libvirt = _connection.libvirt
        section = libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST if key == 'hosts' else libvirt.VIR_NETWORK_SECTION_DNS_HOST
        element = host_element if key == 'hosts' else dns_host_element
        bits = 0
        if 'live' in flags:
            bits |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
        if 'config' in flags:
            bits |= libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
        net = self._net(ctx)
        what = "%s %s in network '%s'" % (verb, SECTIONS[key], self.params['name'])
        # modify = delete + add: libvirt's MODIFY cannot change the key it matches on, and DNS hosts have none
        if old is not None:
            _connection.call(what, net.update, libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE, section, -1,
                             _xml.to_text(element(old), pretty=False), bits)
        if new is not None:
            _connection.call(what, net.update, libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, section, -1,
                             _xml.to_text(element(new), pretty=False), bits)


def read_network(conn, name):
    """Current normalised state of a network."""
    net = lookup_network(conn, name)
    if net is None:
        return {'exists': False, 'name': name}
    state = _common.read_definition('network', name, net, _connection.libvirt.VIR_NETWORK_XML_INACTIVE)
    root = state['xml']
    state.update({
        'uuid': _xml.text_of(root, 'uuid'),
        'autostart': bool(_connection.call("read network '%s'" % name, net.autostart)) if state['persistent'] else False,
        'owner': _ownership.read_mark(root),
        'config': parse_network(root), 'live': parse_network(state['live_xml']) if state['active'] else None,
    })
    return state
