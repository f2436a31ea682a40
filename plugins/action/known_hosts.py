# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action plugin of strata.libvirt.known_hosts: the cluster's known_hosts file written on the controller, in this
process (no module is sent to the task's host). The writing is _cluster/known_hosts.write."""

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import known_hosts

ARGUMENT_SPEC = dict(path=dict(type='path', required=True), content=dict(type='str', required=True),
                     cluster=dict(type='str', required=True))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(dict(self._task.args))
        if validation.error_messages:
            result.update(failed=True, msg='; '.join(validation.error_messages))
            return result
        params = validation.validated_parameters
        try:
            written = known_hosts.write(params['path'], params['content'], params['cluster'], self._task.check_mode)
        except StrataError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(changed=written['changed'], path=written['path'])
        if self._task.diff and written['changed']:
            result['diff'] = written['diff']
        return result
