"""The lab's own tests: the image server behaves like a mirror, and a real guest boots.

Run inside the lab namespace (scripts/test does: `tests/lab/lab exec .venv/bin/pytest tests/lab`).
"""

import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request

import pytest

import selftest

ENV = os.environ
pytestmark = pytest.mark.skipif("STRATA_LAB_DIR" not in ENV, reason="needs the lab: run through tests/lab/lab exec")


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), r.read()


def file_digest(path, algo):
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def access_log():
    with open(ENV["STRATA_LAB_HTTP_LOG"]) as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("algo", ["sha256", "sha512"])
def test_sums_files_list_both_artefacts_with_true_digests(algo):
    status, dummy, body = get(ENV["STRATA_LAB_%sSUMS_URL" % algo.upper()])
    assert status == 200
    sums = dict(reversed(line.split()) for line in body.decode().splitlines())
    image = os.path.basename(ENV["STRATA_LAB_IMAGE"])
    assert set(sums) == {image, image + ".zst"}
    assert sums[image] == file_digest(ENV["STRATA_LAB_IMAGE"], algo)


def test_range_request_returns_partial_content():
    status, headers, body = get(ENV["STRATA_LAB_IMAGE_URL"], {"Range": "bytes=0-3"})
    assert status == 206
    assert body == b"QFI\xfb"  # the qcow2 magic
    assert headers["Content-Range"].startswith("bytes 0-3/")
    assert int(headers["Content-Range"].split("/")[1]) == os.path.getsize(ENV["STRATA_LAB_IMAGE"])


def test_unsatisfiable_range_is_416():
    size = os.path.getsize(ENV["STRATA_LAB_IMAGE"])
    with pytest.raises(urllib.error.HTTPError) as e:
        get(ENV["STRATA_LAB_IMAGE_URL"], {"Range": "bytes=%d-" % size})
    assert e.value.code == 416


def test_drop_once_cuts_the_first_transfer_then_serves_whole():
    # drop-once remembers the whole request path: make it unique, so the test holds on a lab left up
    path = "/drop-once/100/SHA512SUMS?run=%d" % time.time_ns()
    url = ENV["STRATA_LAB_HTTP"] + path
    with pytest.raises(http.client.IncompleteRead):
        get(url)
    status, dummy, body = get(url)
    assert status == 200
    assert body == get(ENV["STRATA_LAB_SHA512SUMS_URL"])[2]
    cut = [r for r in access_log() if r["path"] == path]
    assert [r["bytes"] for r in cut] == [100, len(body)]


def test_access_log_records_bytes_sent():
    before = len(access_log())
    get(ENV["STRATA_LAB_SHA256SUMS_URL"])
    rec = access_log()[before:]
    assert [(r["method"], r["path"], r["status"]) for r in rec] == [("GET", "/SHA256SUMS", 200)]
    assert rec[0]["bytes"] > 0


def test_guest_boots_from_the_image_and_answers_ssh():
    # one boot: a second start of the same disks is what the lifecycle (snapshot revert), startup (boot service
    # after the reverse shutdown) and multi-host (boot services) tests do with their own guests;
    # tests/lab/selftest.py boots it twice by hand
    result = selftest.run(second_boot=False)
    print(json.dumps(result))
    assert result["hostname"] == selftest.HOSTNAME
    assert result["python_major"] == "3"
    assert result["ssh_s"] is not None
    assert result["acpi_shutdown_s"] is not None, "the guest did not power off on ACPI shutdown within 60 s"
