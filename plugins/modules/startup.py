#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r'''
module: startup
short_description: Start libvirt VMs in dependency order with readiness probes and start limits, stop them in reverse
version_added: 0.1.0
description:
  - Brings a set of existing libvirt domains up in dependency order. Each VM has a O(vms[].tier) number
    or a list of VMs it comes O(vms[].after). A VM starts as soon as every VM it depends on passed all its
    readiness probes (libvirt state, guest agent, TCP, SSH, HTTP, cloud-init finished, a command on the
    hypervisor), within the start limits O(max_parallel) and O(limits); it does not wait for the VMs of its
    tier, or of earlier tiers, that it does not depend on.
  - A start call libvirt refuses is tried again (O(start_retries)); a VM that is not ready in time can be powered
    off and started once more (O(restart_on_timeout)).
  - Stops them in the reverse order with O(state=stopped). A VM is asked to shut down (ACPI) once every VM that
    depends on it is off, gets a grace period, then is forced off; the result says which VMs had to be forced.
  - The whole definition is validated before anything is started or stopped, unknown names in
    O(vms[].after) and dependency cycles included.
  - The same engine runs at boot time in the systemd service installed by the role
    P(strata.libvirt.boot_order#role), from the config this module returns in RV(config).
  - Progress. While the task waits, Ansible's output gets one line per VM as it starts, becomes ready, is retried,
    restarted, skipped or fails, with the seconds since the run began (the module's action plugin runs it in the
    background and prints its events as they arrive; no C(-v) needed). A re-run of a running cluster prints two
    lines, the probing begins and all are ready. Every event, probe by probe, is also appended to O(log_file).
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.attributes
  - strata.libvirt.attributes.actiongroup_libvirt
  - strata.libvirt.connection.uri
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the domains' states and returns RV(plan), the ordered tiers and what each VM would
        get (start, stop, none), with C(changed) predicted truthfully, and the schedule in RV(plan.schedule), the
        edges, the order the VMs can start (or stop) in, the start limits applied. It does not run the probes.
  diff_mode:
    support: none
    details:
      - The plan in RV(plan) and RV(actions) is the change report; there is no before/after diff.
  idempotent:
    support: full
    details:
      - V(started) leaves running VMs running (they are still probed); V(stopped) leaves stopped VMs alone.
options:
  state_dir:
    description:
      - Directory on the managed node of the per-URI lock shared with the other strata.libvirt modules.
      - The lock is held while states are read and start calls are issued, not while probes wait.
    type: path
    default: /var/lib/strata-libvirt
  lock_timeout:
    description: Seconds to wait for the per-URI lock.
    type: int
    default: 300
  state:
    description:
      - V(started) starts the VMs that are not running, each once its dependencies are ready, and waits until each
        is ready. Running VMs are not touched but are probed all the same, at once.
      - V(stopped) shuts them down in reverse order, each once the VMs that depend on it are off.
      - V(present) only validates the definition and returns RV(plan) and RV(config); with O(autostart) it also
        sets the VMs' libvirt autostart flag (the boot_order role uses this to turn libvirt's autostart off).
    type: str
    choices: [started, stopped, present]
    default: started
  vms:
    description:
      - The VMs, existing libvirt domains (define them first, for example with the domain module).
      - Tiers are the topological levels of the dependency graph. A VM with O(vms[].tier=N) depends on every
        VM with an explicit tier lower than N; a VM with O(vms[].after) depends on the VMs it names. Tier
        indexes in results and in O(tiers) count these levels from 0, in start order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the libvirt domain.
        type: str
        required: true
      tier:
        description:
          - Start tier number (0 first). VMs with the same number start together. Not together with O(vms[].after).
          - Without O(vms[].tier) and O(vms[].after), a VM is in tier 0.
        type: int
      after:
        description: Names of the VMs that must be ready before this one starts. Not together with O(vms[].tier).
        type: list
        elements: str
      address:
        description:
          - IPv4 address (or host name) of the VM used by the O(vms[].probes[].type=tcp), V(ssh), V(http) and V(cloud_init)
            (via ssh) probes that have no O(vms[].probes[].host).
          - When not set it is discovered, in this order, from a static DHCP host entry for the domain's MAC address
            on its libvirt network, from the network's DHCP leases, and from the guest agent. A lease is only an
            address source, never a readiness signal (a reused MAC shows a stale lease at once).
        type: str
      timeout:
        description: Seconds this VM may take, from its tier's start, to pass all its probes. Default O(timeout).
        type: float
      grace:
        description: Seconds between the shutdown request and the forced power-off for this VM. Default O(grace).
        type: float
      labels:
        description:
          - Names this VM counts under in O(limits) (the cluster role gives a VM's inventory groups and its image label).
        type: list
        elements: str
      restart_on_timeout:
        description: Overrides O(restart_on_timeout) for this VM.
        type: bool
      remote:
        description:
          - The hypervisor the VM runs on, when it is not this one (a cluster over several hosts). Such a VM is never
            read, started or stopped here. The VMs that depend on it wait until its O(vms[].probes) pass from here
            through the network, so they must be of the types V(tcp), V(ssh) (not via the agent), V(http) or
            V(command). The plan gives it the action V(wait).
          - A stop, or V(present), leaves it out, and keeps the order among the other VMs through it.
        type: str
      probes:
        description:
          - Readiness probes, run one after the other in this order; all must pass. Each is retried every
            O(vms[].probes[].interval) seconds until it passes or the VM's timeout is reached.
          - Without probes a VM is ready when libvirt reports it running (V(running)).
        type: list
        elements: dict
        suboptions:
          type:
            description:
              - Each type takes only its own options (and O(vms[].probes[].interval)); another option is an error.
              - V(running) the libvirt state is running.
              - V(agent) the QEMU guest agent answers C(guest-ping).
              - V(tcp) a TCP connection to O(vms[].probes[].host) (default the VM's address) and O(vms[].probes[].port) succeeds.
              - V(ssh) the SSH server sends its banner; with O(vms[].probes[].user) a non-interactive login
                (the hypervisor's C(ssh) client, O(vms[].probes[].key_file)) runs C(true). One login attempt may take
                60 s (its connect, banner and key exchange 30 s), within the VM's timeout; a busy emulated guest can
                need more than 10 s, and an attempt cut short would start its key exchange over.
              - V(http) a GET of O(vms[].probes[].url) answers one of O(vms[].probes[].status), and the body matches
                O(vms[].probes[].body) when given.
              - V(cloud_init) C(cloud-init status) reports C(done) in the guest, through the guest agent
                (C(guest-exec)) or over SSH (O(vms[].probes[].via)). A status of C(error) fails the probe at once.
              - V(command) a command on the hypervisor exits 0. It gets E(STRATA_VM_NAME) and, when known, E(STRATA_VM_ADDRESS).
            type: str
            required: true
            choices: [running, agent, tcp, ssh, http, cloud_init, command]
          interval:
            description:
              - Seconds between two attempts (default V(2)).
              - While the port of a V(tcp) or V(ssh) probe refuses connections or cannot be reached, the next attempt
                comes after 0.25 s (a connect is all it costs), so a VM is ready as soon as its port opens. An V(ssh)
                login probe connects first and runs the C(ssh) client only once the port has accepted a connection.
            type: float
          host:
            description: Host to connect to (V(tcp), V(ssh), V(cloud_init) via ssh). Default the VM's address.
            type: str
          port:
            description: TCP port (required for V(tcp); V(ssh) defaults to 22).
            type: int
          url:
            description:
              - URL for V(http); C({address}) is replaced by the VM's address and C({name}) by its name.
            type: str
          status:
            description: Accepted HTTP status codes for V(http) (default V([200])).
            type: list
            elements: int
          body:
            description: Regular expression the HTTP response body must match (searched in the first MiB).
            type: str
          validate_certs:
            description: Verify the TLS certificate of an C(https) URL for V(http) (default V(true)).
            type: bool
          user:
            description: SSH user for V(ssh) logins and V(cloud_init) via ssh.
            type: str
          key_file:
            description: Private key file on the hypervisor for the SSH login.
            type: path
          via:
            description: How V(cloud_init) asks the guest (default V(agent)).
            type: str
            choices: [agent, ssh]
          command:
            description:
              - The V(command) to run on the hypervisor, a list of arguments or a string split like a shell would
                (it is not run by a shell).
            type: raw
          attempt_timeout:
            description: Seconds one attempt of a V(command) probe may take (default V(30)).
            type: float
  timeout:
    description: Default of O(vms[].timeout), seconds a VM may take to become ready.
    type: float
    default: 600
  tier_timeout:
    description: Seconds a whole tier may take to become ready; not set means only the per-VM timeouts apply.
    type: float
  tier_delay:
    description:
      - Seconds a VM with dependencies waits after the last of them became ready before it starts (a post-ready delay).
    type: float
    default: 0
  max_parallel:
    description:
      - How many VMs this run started may be booting (started, not yet ready or failed) at once; the others wait
        for a slot, in the order of their tier, then of O(vms). Not set means no limit.
      - V(auto) picks 1 per host CPU when the VMs are emulated (domain type C(qemu), TCG, where each booting guest
        keeps a core busy), 4 per host CPU under KVM. RV(plan.schedule) shows the number and why.
      - VMs that already run are probed, not started, and do not count.
    type: raw
  limits:
    description:
      - Start limits per label, a capacity map of label and number. At most that many VMs with the label in
        O(vms[].labels) may be booting at once. A VM waiting for one label's slot does not hold back others.
      - A label no VM has is an error.
    type: dict
  start_retries:
    description:
      - How often a start call that libvirt refuses is tried again before the VM counts as failed.
    type: int
    default: 2
  start_backoff:
    description: Seconds before the first retry of a start call; each further retry waits twice as long.
    type: float
    default: 2
  restart_on_timeout:
    description:
      - A VM this run started that is not ready within its timeout is powered off (destroyed), started once more
        and waited for again with its full timeout, before it counts as failed.
    type: bool
    default: false
  start_delay:
    description:
      - Seconds the boot-time service (P(strata.libvirt.boot_order#role)) waits before its first start (for
        example for the host's network or storage to settle). The module itself does not wait.
    type: float
    default: 0
  watch:
    description:
      - Whether the boot-time service keeps watching the VMs after the start. A VM that stops without being asked
        to (crashed, killed, shut down from inside) is started again once its dependencies are ready, and the
        restart is logged; the service's stop (SIGTERM) shuts the cluster down in reverse order. The module itself
        does not watch.
    type: bool
    default: false
  host_keys:
    description:
      - Read each VM's SSH host keys once it is ready, in its own thread while the VMs after it start, through the
        QEMU guest agent, else the block cloud-init writes to the serial console log, as
        M(strata.libvirt.domain_info) reads them with O(strata.libvirt.domain_info#module:host_keys=true). The keys
        are in RV(host_keys) and in each VM's entry of RV(vms). Not in check mode, and not for VMs of another host.
      - The run waits at its end at most 60 seconds for reads still under way; a VM whose keys could not be read
        has its reason in C(error).
    type: bool
    default: false
  grace:
    description: Default of O(vms[].grace), seconds a VM gets to shut down before it is forced off. V(0) forces at once.
    type: float
    default: 60
  shutdown_mode:
    description:
      - How a VM is asked to shut down. V(acpi) presses the ACPI power button; V(agent) asks the guest agent;
        V(default) lets libvirt choose. The request is repeated every 15 s within the grace period.
    type: str
    choices: [acpi, agent, default]
    default: acpi
  on_failure:
    description:
      - What happens when a VM does not become ready (or cannot be started). The task fails in every case, and the
        message names the VM, the probe and the time waited.
      - V(abort) stops the scheduling. Nothing more is started, what is running stays running, and the other VMs
        being waited for are no longer waited for.
      - V(stop_started) then shuts down, in reverse order with the grace periods, the VMs that this run started.
      - V(continue) goes on with every VM that does not depend on the failed one; its dependents (and theirs) are
        skipped and listed in RV(skipped).
    type: str
    choices: [abort, stop_started, continue]
    default: abort
  tiers:
    description:
      - Only these tier indexes (see RV(plan)). Lets a play run one task per tier, so progress shows in Ansible's output.
      - The order is still enforced. With V(started), the dependencies of the selected VMs outside the selection must
        be running already; with V(stopped), the VMs that depend on them must be off already; otherwise the task
        fails before any change.
    type: list
    elements: int
  autostart:
    description:
      - Set the libvirt autostart flag of every VM to this value (transient domains are skipped).
      - V(false) lets an ordered boot service start the VMs instead of libvirtd. Not set leaves the flags alone.
    type: bool
  log_file:
    description:
      - File on the managed node to which every event is appended while the task runs, one timestamped line each
        (C(tail -f) it to follow a long wait).
      - The module creates it mode C(0600), whatever the umask (the probes' URLs and commands in it may carry
        credentials); a file that is there keeps its mode.
    type: path
  progress_file:
    description:
      - File on the managed node to which every event is appended as one JSON object per line (C(t), C(vm), C(kind),
        C(text), C(notable)). The action plugin sets it to print the progress; not needed by hand (set by the task, the
        plugin prints nothing and the file is the task's to read).
    type: path
notes:
  - The module has an action plugin of the same name, on the controller. It runs the module in the background and
    prints its notable events while the task waits, one line each, with the host's name when the play runs on several
    hosts. It runs the module as it is, without progress lines, in check mode, with O(state=present), with
    O(progress_file) set, with C(no_log), and with C(become) to an unprivileged user.
  - The task keyword C(async) is refused with a clear error. The module already runs in the background, and its own
    RV(started) result would make C(async_status) take the job for one still running.
  - The per-VM timeout counts from the VM's start (for a VM that already runs, from the beginning of its probes);
    O(tier_timeout) from the first start in the tier. Probes run from the managed node (the hypervisor).
  - While a VM's probes have not passed, its domain is watched (after each attempt, and every second between
    attempts). A domain that shuts off, crashes or is no longer defined fails the VM at once, and the error gives
    libvirt's reason, for example C(shut off after 40.2 s (destroyed)); O(on_failure) then applies as for any failure.
    A paused domain is no failure; the wait goes on, and the timeline and the progress lines say that it is paused.
  - V(cloud_init) via the agent needs C(guest-exec) allowed in the guest's qemu-guest-agent (the default).
requirements:
  - libvirt-python (the C(libvirt) and C(libvirt_qemu) Python modules) on the managed node
  - the C(ssh) client on the managed node for SSH logins
seealso:
  - module: strata.libvirt.domain
    description: Defines the domains this module starts and stops.
'''

EXAMPLES = r'''
- name: Gateway first; the rest once its HTTP answers
  strata.libvirt.startup:
    log_file: /var/log/strata-startup.log
    vms:
      - name: gw
        tier: 0
        probes:
          - type: agent
          - type: http
            url: "http://{address}/"
      - name: app1
        tier: 1
        probes:
          - type: ssh
            user: debian
            key_file: /root/.ssh/id_ed25519
          - type: cloud_init
      - name: app2
        after: [gw]
        timeout: 120
        probes:
          - type: tcp
            port: 5432
    on_failure: stop_started
  register: up

- name: Show when each VM was ready (seconds since the run began)
  ansible.builtin.debug:
    msg: "{{ up.vms | dict2items | map(attribute='value.timeline') | map('last') | list }}"

- name: The plan and the schedule (edges, start order, limits) without starting anything
  strata.libvirt.startup:
    vms: "{{ cluster_vms }}"
    state: present
  register: startup_plan

- name: Twelve CI VMs on a small host, at most 4 booting at once, at most 1 of the label db
  strata.libvirt.startup:
    vms: "{{ ci_vms }}"       # each with labels, for example [db] or [web]
    max_parallel: 4
    limits:
      db: 1
    start_retries: 3
    restart_on_timeout: true

- name: One tier at a time (a selection of tiers; their dependencies must run already)
  strata.libvirt.startup:
    vms: "{{ cluster_vms }}"
    tiers: ["{{ item.tier }}"]
  loop: "{{ startup_plan.plan.tiers }}"
  loop_control:
    label: "tier {{ item.tier }}: {{ item.vms | map(attribute='name') | join(', ') }}"

- name: Reverse-order shutdown, 60 s of grace, then force
  strata.libvirt.startup:
    vms: "{{ cluster_vms }}"
    state: stopped
    grace: 60
  register: down

- name: Which VMs had to be forced off
  ansible.builtin.debug:
    var: down.forced
'''

RETURN = r'''
probes_from:
  description:
    - Where the probes ran. C(host) is this machine's name. C(hypervisor) is V(false) when O(uri) names another
      machine (such as V(qemu+ssh://)). The module then runs away from the hypervisor, its probes reach the VMs'
      addresses as this machine does, and a start warns about it.
  returned: always
  type: dict
  sample: {"host": "hv1", "hypervisor": true, "uri": "qemu:///system"}
actions:
  description: What was done (or in check mode would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["start VM 'gw' (tier 0)", "start VM 'app1' (tier 1)"]
plan:
  description:
    - The ordered plan. C(order) lists the tier indexes in execution order (reversed for V(stopped)).
    - C(schedule) is what the scheduler works on. C(edges) are the dependencies (C(from) must be ready before
      C(to) starts). C(start_order) is the order in which the VMs would start if each became ready in turn, and
      C(waits_for) what each waits for; for V(stopped) it is C(stop_waves) instead, the VMs that would stop side by
      side. Also C(max_parallel) (a number after V(auto)) with C(max_parallel_source), C(limits), C(limits_text),
      C(start_retries), C(start_backoff), C(tier_delay) and C(restart_on_timeout), the VMs that have it.
  returned: always
  type: dict
  contains:
    schedule:
      description: The edges, the start (or stop) order and the limits, as above.
      type: dict
      sample:
        edges: [{from: gw, to: app1}]
        start_order: [gw, db, app1]
        waits_for: {gw: [], db: [], app1: [gw]}
        max_parallel: 2
        max_parallel_source: "auto: 1 x 2 host CPU(s), emulated (TCG) guests"
        limits: {web: 1}
        limits_text: "max_parallel 2 (auto: 1 x 2 host CPU(s), emulated (TCG) guests), web at most 1"
        start_retries: 2
        start_backoff: 2.0
        tier_delay: 0.0
        restart_on_timeout: []
  sample:
    state: started
    order: [0, 1]
    tiers:
      - tier: 0
        vms: [{name: gw, current: shutoff, action: start, after: [], probes: ["agent (guest-ping)"], timeout: 600, grace: 60}]
      - tier: 1
        vms: [{name: app1, current: running, action: none, after: [gw], probes: [running], timeout: 600, grace: 60}]
schedule:
  description: RV(plan.schedule), and C(peak_booting), the most VMs this run had booting at once.
  returned: always
  type: dict
tiers:
  description:
    - Per tier of the plan, its VMs, C(status) from theirs (ready, failed, abandoned, skipped, not started, partly
      started, stopped), C(began) (its first VM's start or first probe) and C(ready) (its last VM ready) or
      C(stopped), each with C(at) (UTC wall-clock) and C(t) (seconds since the run began).
    - Tiers are a view of the graph's levels; a VM does not wait for its whole tier, so tiers can overlap in time.
  returned: always
  type: list
  elements: dict
vms:
  description:
    - Per VM, its C(tier), C(state_before), C(action), C(status) (ready, failed, abandoned, skipped, not started,
      stopped), C(address) and C(address_source), C(forced), C(error) when it failed, C(reason) when it was skipped
      or not started, and its C(timeline), a list of events (start issued, a start retried, each probe passed, the
      domain paused, restarted, ready or not ready, shutdown requested, forced off) with C(at) and C(t).
  returned: always
  type: dict
  sample:
    gw:
      tier: 0
      state_before: shutoff
      action: start
      status: ready
      address: 10.243.0.10
      address_source: static DHCP host
      forced: false
      timeline:
        - {event: "start issued (started)", at: "2026-11-21T14:02:03.120Z", t: 0.05}
        - {event: "probe http http://{address}/ passed", at: "2026-11-21T14:02:45.810Z", t: 42.74}
        - {event: ready, at: "2026-11-21T14:02:45.811Z", t: 42.74}
started:
  description: VMs this run started, in start order.
  returned: always
  type: list
  elements: str
stopped:
  description: VMs this run stopped, in stop order.
  returned: always
  type: list
  elements: str
skipped:
  description: VMs not started because a VM they depend on failed (O(on_failure=continue) goes on with the rest).
  returned: always
  type: list
  elements: str
restarted:
  description: VMs powered off and started once more because they were not ready in time (O(restart_on_timeout)).
  returned: always
  type: list
  elements: str
forced:
  description: VMs that did not shut down within their grace period and were forced off.
  returned: always
  type: list
  elements: str
running:
  description: VMs running when a startup failed.
  returned: on failure of O(state=started)
  type: list
  elements: str
run_started_at:
  description: UTC wall-clock time at which the run began; the C(t) of every event counts from it.
  returned: always
  type: str
elapsed:
  description: Seconds the task took.
  returned: always
  type: float
config:
  description: The validated definition, as the boot-time service reads it (JSON).
  returned: success
  type: dict
host_keys:
  description:
    - With O(host_keys=true), the keys read from each ready VM, in the shape of the C(domains) of
      M(strata.libvirt.domain_info) with O(strata.libvirt.domain_info#module:host_keys=true) (C(name), C(active),
      C(host_keys) with C(keys), C(source) and C(error)), so that the cluster role compares them with its
      known_hosts file without reading them again.
  returned: when O(host_keys=true)
  type: list
  elements: dict
  sample: [{"name": "gw", "active": true, "host_keys": {"keys": ["ssh-ed25519 AAAAC3..."], "source": "agent", "error": null}}]
worst_case:
  description: Upper bounds, in seconds, of a full C(start) and C(stop) of this definition (the boot service's systemd timeouts).
  returned: success
  type: dict
  sample: {start: 641, stop: 261}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import CONSTRAINTS, argument_spec
from ansible_collections.strata.libvirt.plugins.module_utils._startup.module import run_module


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **CONSTRAINTS)
    run_module(module)


if __name__ == '__main__':
    main()
