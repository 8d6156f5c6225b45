#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# make-ca-backdated.py DIR DAYS_AGO [DAYS_LEFT]: a self-signed EC P-256 CA in DIR/ca.crt and DIR/ca.key
# whose notBefore lies DAYS_AGO days in the past (openssl req cannot back-date), valid for DAYS_LEFT
# (default 365) days from now.
# Node certificates issued under it are back-dated by nodeseal's clock skew, not clamped to the CA.
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

directory, days_ago = sys.argv[1], float(sys.argv[2])
days_left = float(sys.argv[3]) if len(sys.argv) > 3 else 365.0
os.makedirs(directory, exist_ok=True)
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nodeseal backdated test CA")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder()
    .subject_name(name)
    .issuer_name(name)
    .public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(days=days_ago))
    .not_valid_after(now + datetime.timedelta(days=days_left))
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .add_extension(
        x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                      data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                      encipher_only=False, decipher_only=False),
        critical=True,
    )
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    .sign(key, hashes.SHA256())
)
with open(os.path.join(directory, "ca.key"), "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))
with open(os.path.join(directory, "ca.crt"), "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))
