# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Certificates for the unit tests, in one place.

CA_PEM is a real self-signed X.509 certificate (ed25519, CN=strata-test, valid for 100 years), made once with
    openssl req -x509 -newkey ed25519 -nodes -subj /CN=strata-test -days 36500 -keyout /dev/null
so that the definition's certificate check (parsed with Python's ssl) accepts it.
"""

CA_PEM = '''\
-----BEGIN CERTIFICATE-----
MIIBQjCB9aADAgECAhRbfL2OO9uv879ac9CiDvMEYa9E/TAFBgMrZXAwFjEUMBIG
A1UEAwwLc3RyYXRhLXRlc3QwIBcNMjYxMjAxMjMyNTM2WhgPMjEyNjExMDcyMzI1
MzZaMBYxFDASBgNVBAMMC3N0cmF0YS10ZXN0MCowBQYDK2VwAyEAbFTccyzSqhJs
k59l3Bskg578ICk/kuIiDECQflP2RxmjUzBRMB0GA1UdDgQWBBR/Mg8HqMmIj7P6
G5iI2ABgUvo3ODAfBgNVHSMEGDAWgBR/Mg8HqMmIj7P6G5iI2ABgUvo3ODAPBgNV
HRMBAf8EBTADAQH/MAUGAytlcANBAES51Qbk0uf23N9LWI4f6bNdlpbyj3Nu5uQ4
EulXhKmHL/X1VMwbY+f4Gw6P1oQdJqxa3eQ29uQ/iJzCNiPfTAk=
-----END CERTIFICATE-----
'''
