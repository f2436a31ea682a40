#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: image
short_description: Fetch, verify, decompress and cache a cloud image, and import it as a base volume
version_added: 0.1.0
description:
  - Downloads a cloud image (or copies a local file) on the managed node, verifies its checksum, decompresses it,
    optionally converts it, and keeps it in a cache file O(dest). Optionally imports it into a storage pool as a
    read-only base volume for copy-on-write overlays.
  - Every step writes to a temporary file beside O(dest); only the verified result is renamed onto O(dest). A failed
    or interrupted run never leaves a file at O(dest) that looks valid, and a cached image stays intact until its
    replacement is verified. A checksum mismatch removes the download and reports expected and actual digests.
  - Downloads are retried with exponential backoff. After a cut connection the download resumes with an HTTP
    C(Range) request when the server answers C(206 Partial Content), and starts again when it does not.
  - A small record beside the cached file (C(.<name>.strata-image.json)) keeps the digests of the verified download,
    the decompression and the identity of the cached file. When it still matches, nothing large is transferred or
    hashed again (a SUMS file named by O(checksum) is fetched) and the task reports no change.
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.connection
  - strata.libvirt.attributes
  - strata.libvirt.attributes.planner
  - strata.libvirt.attributes.actiongroup_libvirt
options:
  source:
    description:
      - Where the image comes from, an V(http://) or V(https://) URL, a V(file://) URL or an absolute path on the
        managed node.
      - A URL may carry credentials, V(https://user:password@host/...) or a query parameter such as V(token=); the
        module shows, returns and records the URL with them redacted, and hides them in the module arguments it
        reports.
    type: str
    required: true
  checksum:
    description:
      - How the downloaded file (before decompression) is verified.
      - V(sha256:<hex>) or V(sha512:<hex>), a digest.
      - V(sha256:<URL>) or V(sha512:<URL>), the URL of a SUMS file (as Debian's C(SHA512SUMS) or Ubuntu's
        C(SHA256SUMS)); the line of the source's file name is used (GNU C(<hex>  name) or C(<hex> *name),
        and BSD C(SHA256 (name) = <hex>) layouts).
      - V(none) skips verification, explicitly; the module then warns.
    type: str
    required: true
  dest:
    description:
      - Path of the cached image on the managed node, or an existing directory to put it in.
      - By default O(cache_dir)/<file name of the source without its compression suffix>.
    type: path
  cache_dir:
    description:
      - Directory of the cached image when O(dest) is not set. Created (mode 0755, with the parents it needs) when
        missing.
      - The cached image and its sidecar record are mode 0644, whatever the umask.
    type: path
    default: /var/lib/strata-libvirt/images
  decompress:
    description:
      - V(auto) decompresses by the source's file name extension (C(.zst), C(.zstd), C(.xz), C(.gz), C(.bz2)).
      - V(zstd), V(xz), V(gz), V(bz2) force one; V(none) never decompresses.
      - xz, gz and bz2 are decompressed by Python itself; zstd by the C(zstd) command when present, else by the
        Python package C(zstandard); the task fails before downloading when neither is there.
    type: str
    choices: [auto, none, zstd, xz, gz, bz2]
    default: auto
  format:
    description:
      - Convert the image to this format with C(qemu-img convert) when it is in another one.
      - By default the image is kept in its own format.
    type: str
    choices: [qcow2, raw]
  pool:
    description:
      - Import the cached image into this (running) storage pool as a read-only (mode 0444) base volume,
        recorded as strata.libvirt's own.
      - When libvirt runs on this host and the pool's directory is on the file system of O(cache_dir), the base
        volume is a hard link to the cached image (no copy, no second image's worth of disk; the cached image then
        has the volume's owner and mode 0444 too). Otherwise it is copied, or streamed through libvirt for a remote
        or non-file pool.
      - When the volume exists with other content it is replaced, unless volumes of the pool use it as their
        backing file; then the task fails before any change and asks for another O(volume) name.
    type: str
  volume:
    description: Name of the base volume in O(pool). By default the file name of O(dest).
    type: str
  retries:
    description: How many times a failed download (or SUMS fetch) is retried, counting every resume.
    type: int
    default: 3
  retry_delay:
    description: Seconds before the first retry; doubled for each further retry, at most 30.
    type: float
    default: 2.0
  timeout:
    description: Socket timeout in seconds of each HTTP request.
    type: int
    default: 30
  validate_certs:
    description: Verify the server's TLS certificate for https URLs.
    type: bool
    default: true
notes:
  - Check mode may fetch the SUMS file named by O(checksum) to tell whether the cached image is current; it
    writes nothing.
  - The temporary files are named C(.<dest name>.strata-tmp-*) beside O(dest); leftovers of an interrupted run
    (a killed process) are removed by the next run, under a per-destination lock in O(state_dir).
  - A file already at O(dest) without the record (placed by hand, for example) is hashed once; when it matches
    O(checksum) and needs no decompression it is kept and recorded, otherwise it is replaced.
  - The cached file itself must not be used as the backing file of running guests when its source may change;
    import it with O(pool) and build overlays on the base volume.
  - The connection options (O(uri), O(cluster), O(adopt)) only matter with O(pool).
seealso:
  - module: strata.libvirt.volume
  - module: strata.libvirt.cloud_init
'''

EXAMPLES = r'''
- name: Debian 12 cloud image, verified against Debian's SHA512SUMS, imported as a base volume
  strata.libvirt.image:
    source: https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2
    checksum: sha512:https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS
    pool: strata
    volume: debian-12.qcow2
  register: base

- name: A zstd-compressed image with a pinned digest, converted to qcow2
  strata.libvirt.image:
    source: https://images.example.org/appliance.raw.zst
    checksum: sha256:5f2a0b2cbd5a8d2b7a3e0c8b1b8a3c8e0f7d9f6e5d4c3b2a1f0e9d8c7b6a5f4e
    format: qcow2
    dest: /var/lib/strata-libvirt/images/appliance.qcow2

- name: A local file, explicitly unverified (warns)
  strata.libvirt.image:
    source: /srv/images/test.qcow2
    checksum: none
'''

RETURN = r'''
changed:
  description: Whether the cached image or the base volume was (or, in check mode, would be) changed.
  returned: always
  type: bool
actions:
  description: What was done, or in check mode would be done, in order.
  returned: always
  type: list
  elements: str
  sample:
    - download http://127.0.0.1:8088/strata-debian-12.qcow2.zst
    - verify its sha256 against http://127.0.0.1:8088/SHA256SUMS
    - decompress it (zstd, with zstd command /usr/bin/zstd)
    - create /var/lib/strata-libvirt/images/strata-debian-12.qcow2 (the cached image does not exist)
diff:
  description: The cached image (and base volume) before and after.
  returned: always
  type: dict
path:
  description: Path of the cached image.
  returned: always
  type: str
source:
  description: The source, as given, its credentials (the password of V(user:password@), a lone user name, the
    values of query parameters such as V(token) or V(X-Amz-Signature)) replaced by V(<redacted>).
  returned: always
  type: str
format:
  description: Format of the cached image from C(qemu-img info) (null in check mode before a download).
  returned: always
  type: str
  sample: qcow2
virtual_size:
  description: Virtual size in bytes from C(qemu-img info) (null in check mode before a download).
  returned: always
  type: int
size:
  description: Size of the cached file in bytes.
  returned: always
  type: int
checksum:
  description: The verified checksum of the download, V(<algorithm>:<hex>); null with O(checksum=none).
  returned: always
  type: str
sha256:
  description: sha256 of the cached file itself (after decompression and conversion).
  returned: always
  type: str
downloaded:
  description: Whether the image was (in check mode, would be) transferred.
  returned: always
  type: bool
decompressed:
  description: Whether this run decompressed the download.
  returned: always
  type: bool
decompression:
  description: The decompression method in use for this source (V(zstd), V(xz), V(gz), V(bz2)) or null.
  returned: always
  type: str
decompressor:
  description: What decompressed it, for example V(zstd command /usr/bin/zstd) or V(python lzma).
  returned: when decompressed
  type: str
converted:
  description: Whether this run converted the image with C(qemu-img convert).
  returned: always
  type: bool
sidecar:
  description: Path of the verification record beside the cached image.
  returned: always
  type: str
transfer:
  description: Statistics of the transfer, V(bytes), V(attempts), V(resumed), V(restarted); null when nothing was transferred.
  returned: always
  type: dict
volume:
  description: The base volume (as the strata.libvirt.volume module reports it) when O(pool) is set, else null.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils._image.spec import CONSTRAINTS, argument_spec
from ansible_collections.strata.libvirt.plugins.module_utils._image.task import run


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **CONSTRAINTS)
    run(module)


if __name__ == '__main__':
    main()
