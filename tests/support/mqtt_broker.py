"""A real MQTT broker for the tests: amqtt 0.12 in another process on a loopback port, stopped and started at will.

`MqttBroker(folder)` picks a free port; `start()` returns once the broker takes connections; `stop()` kills it
(SIGKILL, as a crash; `kill=False`: SIGTERM, a clean shutdown); `start()` again brings it back on the same port.
Anonymous clients get in. A client that gives a user name gets a named session, so a subscriber with a
persistent session (clean_session=False) keeps its subscriptions across a restart (the broker saves them in
`folder`, the way a production broker persists its sessions) and gets the QoS 1 messages published while it was
away. With `users` (name -> password) only those users get in (amqtt's password file, argon2 hashes); with
`tls` (certificate, key) the listener speaks TLS only, and with `client_ca` it checks the certificates clients
present against that CA.

`PartsSubscriber` is the plant's side: a paho client subscribed to PREFIX/# that keeps every message it receives.

As a program (what `MqttBroker` runs): `python -m tests.support.mqtt_broker --port N --folder DIR
[--password-file FILE] [--tls CERT KEY [--client-ca CA]] [--debug]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from amqtt.plugins.base import BaseAuthPlugin, BasePlugin

REPO = Path(__file__).resolve().parents[2]
MODULE = "tests.support.mqtt_broker"
START_TIMEOUT_S = 30.0


# --- inside the broker process ----------------------------------------------------------------------
class OpenDoor(BaseAuthPlugin):
    """Lets every client in; only one without a user name is anonymous (amqtt's AnonymousAuthPlugin makes every
    session anonymous once anonymous clients are allowed, and an anonymous session gets nothing queued)."""

    async def authenticate(self, *, session) -> bool:
        """Accept the client; mark it anonymous when it gave no user name."""
        session.is_anonymous = not session.username
        return True


class KeptSubscriptions(BasePlugin):
    """Saves the subscriptions of named persistent sessions in a JSON file and restores them before the broker
    listens again, so a restart keeps what a subscriber asked for (amqtt's own SessionDBPlugin needs SQLAlchemy)."""

    @dataclass
    class Config:
        """Where the subscriptions are kept."""

        file: str = "subscriptions.json"

    def _read(self) -> dict[str, dict[str, int]]:
        path = Path(self.config.file)
        return json.loads(path.read_text()) if path.exists() else {}

    async def on_broker_client_subscribed(self, *, client_id: str, topic: str, qos: int) -> None:
        """Note a named persistent session's subscription."""
        session = self.context.get_session(client_id)
        if session is None or session.clean_session or session.is_anonymous:
            return
        kept = self._read()
        kept.setdefault(client_id, {})[topic] = qos
        tmp = Path(self.config.file + ".tmp")
        tmp.write_text(json.dumps(kept))
        os.replace(tmp, self.config.file)

    async def on_broker_pre_start(self) -> None:
        """Give every saved session back its subscriptions (as an offline session) before clients can connect."""
        for client_id, topics in self._read().items():
            await self.context.add_subscription(client_id, None, None)
            session = self.context.get_session(client_id)
            if session is not None:
                session.clean_session = False
            for topic, qos in topics.items():
                await self.context.add_subscription(client_id, topic, qos)


def _serve(port: int, folder: Path, password_file: str | None, tls: list[str] | None, client_ca: str | None) -> None:
    from amqtt.broker import Broker

    listener: dict[str, object] = {"type": "tcp", "bind": f"127.0.0.1:{port}"}
    if tls:
        listener.update(ssl=True, certfile=tls[0], keyfile=tls[1])
        if client_ca:
            listener["cafile"] = client_ca
    auth = ({"amqtt.plugins.authentication.FileAuthPlugin": {"password_file": password_file}} if password_file
            else {f"{MODULE}.OpenDoor": {}})
    config = {"listeners": {"default": listener},
              "plugins": {**auth, f"{MODULE}.KeptSubscriptions": {"file": str(folder / "subscriptions.json")}}}

    async def main() -> None:
        broker = Broker(config)
        await broker.start()
        done = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
        print(f"broker listening on 127.0.0.1:{port}", flush=True)
        await done.wait()
        await broker.shutdown()

    asyncio.run(main())


def _main() -> int:
    ap = argparse.ArgumentParser(description="an amqtt broker on 127.0.0.1 for the tests")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--folder", type=Path, required=True)
    ap.add_argument("--password-file", default=None)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), default=None)
    ap.add_argument("--client-ca", default=None, help="with --tls: the CA that signs the clients' certificates")
    ap.add_argument("--debug", action="store_true", help="log every packet (into the broker's log file)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)
    _serve(args.port, args.folder, args.password_file, args.tls, args.client_ca)
    return 0


# --- the test's side --------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def password_line(user: str, password: str) -> str:
    """A line of amqtt's password file: user:argon2-hash."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    return f"{user}:{PasswordHash((Argon2Hasher(),)).hash(password)}"


class MqttBroker:
    """An amqtt broker process on 127.0.0.1:`port`; use as a context manager or call start/stop."""

    def __init__(self, folder: Path, *, users: dict[str, str] | None = None,
                 tls: tuple[Path, Path] | None = None, client_ca: Path | None = None,
                 port: int | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls = tls
        self._args = ["--port", str(self.port), "--folder", str(self.folder)]
        if users:
            pw = self.folder / "passwords"
            pw.write_text("".join(password_line(u, p) + "\n" for u, p in users.items()))
            self._args += ["--password-file", str(pw)]
        if tls:
            self._args += ["--tls", str(tls[0]), str(tls[1])]
            if client_ca:
                self._args += ["--client-ca", str(client_ca)]
        self._proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """mqtt://127.0.0.1:PORT (mqtts:// with TLS)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True while the broker process runs."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> MqttBroker:
        """Start the broker and return once it takes connections on its port."""
        if self.running:
            return self
        self.starts += 1
        log = (self.folder / f"broker-{self.starts}.log").open("w")
        self._proc = subprocess.Popen([sys.executable, "-m", MODULE, *self._args], cwd=REPO, stdout=log,
                                      stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the test broker ended at start: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the test broker did not listen within {START_TIMEOUT_S:.0f} s") from None
                time.sleep(0.05)

    def stop(self, kill: bool = True) -> None:
        """End the broker: SIGKILL (a crash: nothing is saved on the way out) or, with kill=False, SIGTERM."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the newest broker log (for failure messages)."""
        path = self.folder / f"broker-{self.starts}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def __enter__(self) -> MqttBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Received:
    """One message as the subscriber got it."""

    topic: str
    payload: dict
    qos: int
    retain: bool
    at: float  # time.time() on arrival


@dataclass
class PartsSubscriber:
    """The plant's side: subscribes to `topic` (QoS 1) and keeps every message; reconnects by itself.

    With `persistent` (a named, clean_session=False session), messages published while it is away, the broker
    restarting included, are delivered when it is back. Close it (or use it as a context manager): its paho
    thread must not outlive the test.
    """

    broker: MqttBroker
    topic: str = "#"
    client_id: str = "plant-subscriber"
    username: str | None = None
    password: str | None = None
    persistent: bool = False
    ca_file: Path | None = None
    messages: list[Received] = field(default_factory=list)
    connects: int = 0

    def __post_init__(self) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                  clean_session=not self.persistent, protocol=paho.MQTTv311)
        self.client.reconnect_delay_set(0.1, 0.5)
        if self.username:
            self.client.username_pw_set(self.username, self.password)
        if self.broker.tls:
            self.client.tls_set(ca_certs=str(self.ca_file) if self.ca_file else None)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(self.broker.url.split("://")[1].split(":")[0], self.broker.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(20):
            self.close()
            raise RuntimeError(f"the subscriber could not subscribe to {self.topic}: {self.broker.log_tail()}")

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if not reason_code.is_failure:
            self.connects += 1
            client.subscribe(self.topic, qos=1)

    def _on_message(self, _client, _userdata, msg) -> None:
        item = Received(msg.topic, json.loads(msg.payload), msg.qos, bool(msg.retain), time.time())
        with self._lock:
            self.messages.append(item)

    def on(self, suffix: str) -> list[Received]:
        """The messages received so far on topics ending in `suffix` ('/result', '/state')."""
        with self._lock:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def seqs(self) -> list[int]:
        """The `seq` of every result received, in arrival order (duplicates kept)."""
        return [m.payload["seq"] for m in self.on("/result")]

    def states(self) -> list[str]:
        """Every state received, in arrival order."""
        return [m.payload["state"] for m in self.on("/state")]

    def close(self) -> None:
        """Disconnect and end the paho thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> PartsSubscriber:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(_main())
