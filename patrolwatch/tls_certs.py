"""Certificates for encryption in transit: MQTT over TLS (8883) and the dashboard over HTTPS.

A force supplies its own (its CA, a certificate and key for the broker and one for the
dashboard) under the names below; for a trial, ``patrolwatch tls-certs DIR`` writes a small
private CA and the two server certificates signed by it (ECDSA P-256, 825 days). Files
already there are kept, so the command is safe to run at every ``docker compose up``; as
root it gives each key to the one user that serves with it.

    DIR/ca.crt          the CA devices and services trust (PATROL_MQTT_URL ?cafile=)
    DIR/ca.key          the CA's key: keep it off the servers once the certificates exist
    DIR/broker.crt/.key Mosquitto's listener 8883 (names: mosquitto, localhost, 127.0.0.1)
    DIR/dashboard.crt/.key gunicorn --certfile/--keyfile (names: dashboard, localhost, ...)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825  # the longest browsers accept for a server certificate
SERVERS = {"broker": "mosquitto", "dashboard": "dashboard"}  # file stem -> compose host name
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Written:
    """What ``write_certs`` did: files it wrote and files it kept."""

    written: list[Path]
    kept: list[Path]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _names(names: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                 signer: ec.EllipticCurvePrivateKey, now: dt.datetime, days: int,
                 names: Sequence[str] = (), ca: bool = False) -> x509.Certificate:
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = (builder
                   .add_extension(x509.SubjectAlternativeName(_names(names)), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                  critical=False))
    return builder.sign(signer, hashes.SHA256())


def _write(path: Path, data: bytes, mode: int, uid: int | None) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, mode)
    if uid is not None:
        os.chown(tmp, uid, -1)
    os.replace(tmp, path)


def write_certs(folder: Path, hosts: Sequence[str] = (), days: int = VALID_DAYS,
                owners: dict[str, int | None] | None = None) -> Written:
    """Write a private CA and the broker's and dashboard's certificates, keeping existing ones.

    ``hosts`` are the extra names (DNS or IP) devices and browsers reach the servers by.
    ``owners`` gives a key's file to a uid (``{"broker": 1883, "dashboard": 10001}``, as root).
    """
    owners = owners or {}
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    written: list[Path] = []
    kept: list[Path] = []
    ca_crt, ca_key = folder / "ca.crt", folder / "ca.key"
    if ca_crt.exists():
        kept.append(ca_crt)
        ca_cert = x509.load_pem_x509_certificate(ca_crt.read_bytes())
        signer = None
        if ca_key.exists():
            loaded = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
            signer = loaded if isinstance(loaded, ec.EllipticCurvePrivateKey) else None
    else:
        signer = _key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PatrolWatch trial CA")])
        ca_cert = _certificate("PatrolWatch trial CA", signer, name, signer, now, days, ca=True)
        _write(ca_key, _pem_key(signer), 0o600, None)
        _write(ca_crt, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644, None)
        written += [ca_crt, ca_key]
    for stem, host in SERVERS.items():
        crt, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
        uid = owners.get(stem)
        if crt.exists() and key_path.exists():
            kept += [crt, key_path]
            if uid is not None:
                os.chown(key_path, uid, -1)
            continue
        if signer is None:
            raise ValueError(f"{crt} is missing and {ca_key} is not there to sign a new one: "
                             "supply both files, or remove ca.crt to start a new trial CA")
        key = _key()
        cert = _certificate(host, key, ca_cert.subject, signer, now, days,
                            [host, *LOCAL_NAMES, *hosts])
        _write(key_path, _pem_key(key), 0o600, uid)
        _write(crt, cert.public_bytes(serialization.Encoding.PEM), 0o644, None)
        written += [crt, key_path]
    return Written(written, kept)
