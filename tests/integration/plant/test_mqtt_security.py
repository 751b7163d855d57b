"""[mqtt] settings people get wrong end in one plain message; TLS and a broker login work; a refused login is an
alarm, and the password reaches no log. The broker is amqtt in another process (password file, TLS listener)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hmi.config.loader import load_station
from hmi.core.alarm_catalogue import MQTT_LINK
from hmi.core.errors import ConfigError
from hmi.plant.mqtt import BrokerLink
from tests.support.mqtt_broker import MqttBroker, PartsSubscriber
from tests.support.stations import replay_station
from tests.support.waiting import wait_for

SECRET = "St4tion-s3cret"
ENV = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "HMI_MQTT_PASSWORD")}


def _hmi_run(data: Path, *settings: str) -> subprocess.CompletedProcess:
    args = [a for s in settings for a in ("--set", s)]
    return subprocess.run([sys.executable, "-m", "hmi", "run", "--headless", "--max-parts", "1", "--data-dir",
                           str(data), "--set", "plc.mode=off", *args], capture_output=True, text=True, timeout=120,
                          env=ENV)


def test_a_wrong_url_scheme_or_a_password_in_the_url_stops_the_station_with_one_plain_message(tmp_path):
    run = _hmi_run(tmp_path / "a", "mqtt.url=http://broker:1883")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "mqtt.url must start with mqtt:// or mqtts://" in run.stderr

    run = _hmi_run(tmp_path / "b", f"mqtt.url=mqtt://station:{SECRET}@127.0.0.1:1883")
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("hmi: the MQTT broker URL in station.toml contains a password — remove it")
    assert "HMI_MQTT_PASSWORD" in run.stderr
    written = [p for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert written and not any(SECRET.encode() in p.read_bytes() for p in written)  # not in logs, nor anywhere


def test_tls_files_without_mqtts_are_refused(tmp_path):
    cfg = load_station(tmp_path / "data", ["mqtt.url=mqtt://broker:1883", "mqtt.ca_file=/etc/ssl/ca.pem"])
    with pytest.raises(ConfigError, match="unencrypted — use mqtts://HOST:8883 for TLS"):
        BrokerLink.of(cfg)


def _certificates(folder: Path) -> dict[str, Path]:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate it signed, with their keys (PEM)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def cert(subject: str, key, issuer: str, issuer_key, *, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    paths = {"ca": folder / "ca.pem"}
    paths["ca"].write_bytes(cert("hmi test CA", ca_key, "hmi test CA", ca_key, ca=True).public_bytes(
        serialization.Encoding.PEM))
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        paths[name], paths[f"{name}_key"] = folder / f"{name}.pem", folder / f"{name}.key"
        paths[name].write_bytes(cert(f"hmi test {name}", key, "hmi test CA", ca_key, ca=False).public_bytes(
            serialization.Encoding.PEM))
        paths[f"{name}_key"].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    return paths


def test_results_travel_over_tls_with_a_client_certificate_and_a_broker_login(tmp_path, tiny_model):
    pki = _certificates(tmp_path / "pki")
    ca = pki["ca"]
    password_file = tmp_path / "mqtt-password"
    password_file.write_text(SECRET + "\n")
    password_file.chmod(0o600)
    users = {"station": SECRET, "plant": "plant-pass"}
    with MqttBroker(tmp_path / "broker", users=users, tls=(pki["server"], pki["server_key"]), client_ca=ca) as broker, \
            PartsSubscriber(broker, topic="hmi/#", username="plant", password="plant-pass", ca_file=ca) as plant:
        assert broker.url.startswith("mqtts://")
        station = replay_station(tmp_path / "s", tiny_model, ["ok", "ng"], rate_hz=20.0, max_parts=6, overrides=[
            f"mqtt.url={broker.url}", f"mqtt.ca_file={ca}", f"mqtt.cert_file={pki['client']}",
            f"mqtt.key_file={pki['client_key']}", "mqtt.username=station", f"mqtt.password_file={password_file}"])
        station.start()
        try:
            wait_for(lambda: len(set(plant.seqs())) >= 6, "6 results over TLS")
        finally:
            station.stop()
        assert not station.alarms.is_active(MQTT_LINK)


def test_a_refused_login_is_an_alarm_and_the_password_is_never_logged(tmp_path, tiny_model, monkeypatch, caplog):
    monkeypatch.setenv("HMI_MQTT_PASSWORD", SECRET)
    caplog.set_level(logging.DEBUG)
    with MqttBroker(tmp_path / "broker", users={"station": "another-password"}) as broker:
        station = replay_station(tmp_path / "s", tiny_model, ["ok"], rate_hz=20.0, max_parts=5, overrides=[
            f"mqtt.url={broker.url}", "mqtt.username=station"])
        station.start()
        try:
            wait_for(lambda: "refused the login" in next(
                (a.message for a in station.alarms.snapshot() if a.code == MQTT_LINK.code), ""), "MQTT_LINK")
            wait_for(lambda: station.outlet.counts().total >= 5, "the line judging on")
            assert repr(station.outputs[0].link).count(SECRET) == 0
        finally:
            station.stop()
    assert caplog.records and not any(SECRET in r.getMessage() for r in caplog.records)
    assert any("cannot be reached" in r.getMessage() for r in caplog.records)
