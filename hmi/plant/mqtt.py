"""MQTT results (paho-mqtt): one JSON message per decided part, QoS 1, and the station's state as a retained message.

Topics (docs/mqtt.md): `PREFIX/STATION/result`, one message per part and one more when a HOLD part gets its final
verdict (an operator's review, or the recipe's default when its review time ran out), QoS 1, not retained;
`PREFIX/STATION/state`, retained, QoS 1, sent at every change of the station's state and after every reconnect,
with the last will {"state": "Offline"} that the broker publishes there when the station vanishes. STATION is
`station_topic_name`: [plant] station_id, else [station] name, every run of characters other than letters, digits,
'_', '.' and '-' replaced by one '-' ("Station 1" -> "Station-1").

A message with "final": true carries the verdict a part leaves the station with: a part decided OK, NG or
NOT_INSPECTED gets one such message; a HOLD part gets one with "final": false at once and a final one after its
review. Each message reaches the broker at least once; subscribers deduplicate by (station, seq, final), and a
final message is never replaced by a non-final one:
- the worker keeps its own buffer of up to `mqtt.buffer_limit` messages, and a message leaves it only when the
  broker acknowledged it (PUBACK). Every connection is a clean session on a fresh paho client: what was published
  but not acknowledged when the link broke goes back to the buffer and is sent again on the next connection
  (paho's own copies go with the old client, so they are not sent a second time by paho);
- after a lost link, the newest `REPLAY` messages the broker had acknowledged are sent once more: a broker that
  goes down may have acknowledged messages it had not yet handed on to its subscribers;
- reviews are kept in the same buffer, in the order they came, so the same holds for them;
- when the buffer is full the newest result is not kept (those waiting go first, oldest first, when the broker is
  back): counted and alarmed (MQTT_DROPPED); every part stays in the station's records.

The worker never blocks the line: it takes parts and reviews from its own queues (offered by the verdict outlet
and the HOLD list) and runs at nice 10. The broker away is the MQTT_LINK alarm (with the number kept), cleared
once connected and drained.
"""

from __future__ import annotations

import json
import logging
import math
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from hmi import __version__
from hmi.config.schema import MqttConfig, StationConfig
from hmi.core.alarm_catalogue import MQTT_DROPPED, MQTT_LINK
from hmi.core.errors import ConfigError
from hmi.core.messages import OperatorReview
from hmi.core.part import Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.outputs import AwaitingReview, OutputFeed, StationState, review_reason, reviewed_defect_code
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import Worker
from hmi.plant.secrets import read_secret, redacted, refuse_password_in_url

log = logging.getLogger(__name__)

WHAT = "MQTT broker"
PAYLOAD_VERSION = 2          # "v" in every message: raised when a field changes meaning (2: final, reviews)
WINDOW = 100                 # results published and not yet acknowledged, at most
REPLAY = 100                 # acknowledged results sent again after a lost link
TAKE_MAX = 500               # parts (and reviews) taken from their queues in one step
STEP_WAIT_S = 0.02           # a step waits this long for a part (the socket is served between waits)
# TCP connect and TLS handshake (the thread waits: its parts queue, pipeline.result_queue, must cover it), and
# then the broker's answer to the login (not waited on).
CONNECT_TIMEOUT_S = 3.0
KEEPALIVE_S = 15             # a broker that vanished silently is noticed within about 1.5 x this
RETRY_MIN_S, RETRY_MAX_S = 0.5, 5.0
FLUSH_S = 5.0                # the last flush on stop: results, then the Halted state
ALARM_EVERY_S = 1.0          # the alarms' counts are updated at most this often
DRAINING = "connected again, sending the results kept"  # MQTT_LINK's problem until what was kept is sent


def station_topic_name(cfg: StationConfig) -> str:
    """The station's level in the topics: [plant] station_id, else [station] name, made topic-safe."""
    name = cfg.plant.station_id or cfg.station.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "station"


@dataclass(frozen=True)
class Topics:
    """Where this station publishes: its results and its retained state."""

    result: str
    state: str

    @classmethod
    def of(cls, cfg: StationConfig) -> Topics:
        """PREFIX/STATION/result and PREFIX/STATION/state for this station."""
        base = f"{cfg.mqtt.topic_prefix}/{station_topic_name(cfg)}"
        return cls(f"{base}/result", f"{base}/state")


@dataclass(frozen=True)
class BrokerLink:
    """How to reach the broker: address, TLS, login. `repr` never shows the password."""

    host: str
    port: int
    client_id: str
    username: str = ""
    password: str | None = None
    tls: ssl.SSLContext | None = None

    @property
    def name(self) -> str:
        """The broker as people may see it (no credentials)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"BrokerLink({self.name}, client_id={self.client_id!r}, user={self.username!r})"

    @classmethod
    def of(cls, cfg: StationConfig) -> BrokerLink:
        """The link [mqtt] describes; ConfigError (one plain message) for a URL, TLS file or password it cannot use."""
        m = cfg.mqtt
        refuse_password_in_url(WHAT, m.url, m.password_env)
        parts = urlsplit(m.url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or port == -1:
            raise ConfigError(f"mqtt.url {redacted(m.url)} names no broker host and port that can be used",
                              "write it as mqtt://HOST:1883 or mqtts://HOST:8883 in station.toml")
        secure = parts.scheme == "mqtts"
        if not secure and (m.ca_file or m.cert_file or m.key_file):
            raise ConfigError("mqtt.ca_file, cert_file or key_file is set but mqtt.url starts with mqtt:// (no TLS): "
                              "the messages would travel unencrypted",
                              "use mqtts://HOST:8883 for TLS, or remove the TLS files from [mqtt]")
        username = m.username or (parts.username or "")
        password = _password(m, username)
        return cls(parts.hostname, port or (8883 if secure else 1883), m.client_id or f"hmi-{station_topic_name(cfg)}",
                   username, password, _tls_context(m) if secure else None)


def _password(m: MqttConfig, username: str) -> str | None:
    """The broker password (environment or owner-only file), only with a user name: MQTT sends none without one."""
    if not username:
        if m.password_file:
            raise ConfigError("mqtt.password_file is set but mqtt.username is empty",
                              "set mqtt.username in station.toml (MQTT sends a password only with a user name)")
        return None
    return read_secret(WHAT, m.password_env, m.password_file)


def _tls_context(m: MqttConfig) -> ssl.SSLContext:
    """TLS for mqtts://: the broker's certificate checked against mqtt.ca_file (else the system's CAs)."""
    if m.key_file and not m.cert_file:
        raise ConfigError("mqtt.key_file is set without mqtt.cert_file",
                          "set both for a client certificate, or neither")
    try:
        ctx = ssl.create_default_context(cafile=m.ca_file or None)
        if m.cert_file:
            ctx.load_cert_chain(m.cert_file, m.key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot use the MQTT TLS files ({getattr(exc, 'strerror', None) or exc})",
                          "check mqtt.ca_file, mqtt.cert_file and mqtt.key_file in station.toml") from None
    return ctx


def iso_utc(when: datetime | None) -> str | None:
    """`when` as ISO 8601 UTC with milliseconds and a Z: 2024-05-02T13:04:05.123Z."""
    if when is None:
        return None
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: float | None, digits: int) -> float | None:
    """A float fit for JSON (NaN and infinities become null)."""
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), digits)


def station_fields(cfg: StationConfig) -> dict[str, str]:
    """What names the station in every message: its name, its plant id when set, its line."""
    fields = {"station": cfg.station.name}
    if cfg.plant.station_id:
        fields["station_id"] = cfg.plant.station_id
    fields["line"] = cfg.plant.line or cfg.station.line
    return fields


def result_message(part: Part, station: dict[str, str]) -> dict[str, object]:
    """One decided part as the plant reads it (fields in docs/mqtt.md)."""
    decision, inspection, setup = part.decision, part.inspection, part.setup
    verdict = decision.verdict.name if decision else None
    code = part.defect_code
    msg: dict[str, object] = {"v": PAYLOAD_VERSION, **station, "seq": part.seq}
    if part.part_id:
        msg["part_id"] = part.part_id
    if part.lot_id:
        msg["lot_id"] = part.lot_id
    msg.update({
        # The verdict the line acted on when the part was decided; a HOLD's review follows in a final message.
        "verdict": verdict,
        "auto_verdict": verdict,
        "final": decision is not None and decision.verdict is not Verdict.HOLD,
        "reason": decision.reason if decision else None,
        "score": _number(inspection.score, 6) if inspection else None,
        "confidence": _number(decision.confidence, 4) if decision else None,
        "defect_code": code,
        "defect_type": setup.defect_types[code - 1] if setup and code else None,
        "recipe": part.recipe,
        "model": _first(setup and setup.model, inspection and inspection.model_name),
        "model_sha256": _first(setup and setup.model_sha256, inspection and inspection.model_sha256),
        "threshold_version": decision.threshold_version if decision else (setup.threshold_version if setup else None),
        "backend": inspection.backend if inspection else None,
        "captured_at": iso_utc(part.captured_at),
        "decided_at": iso_utc(decision.decided_at) if decision else None,
        "latency_ms": _number(part.latency_ms, 1),
    })
    if part.capture_error:
        msg["capture_error"] = part.capture_error
    return msg


def review_message(review: OperatorReview, held: dict[str, object] | None, defect_types: tuple[str, ...],
                   station: dict[str, str]) -> dict[str, object]:
    """The final verdict of a HOLD part: its HOLD message's fields (when still known) with the review's."""
    msg = dict(held) if held is not None else {"v": PAYLOAD_VERSION, **station, "seq": review.seq,
                                               "auto_verdict": Verdict.HOLD.name}
    ng = review.verdict is not Verdict.OK
    msg.update({
        "verdict": review.verdict.name,
        "final": True,
        "reason": review_reason(review),
        # Unknown (null) only for a Defect review of a part this thread no longer remembers.
        "defect_code": reviewed_defect_code(review, defect_types) if held is not None or not ng else None,
        "defect_type": review.defect_type if ng else None,
        "reviewed_by": review.user,
        "reviewed_at": iso_utc(review.reviewed_at),
        "automatic": review.automatic,
    })
    return msg


def _first(*values: str | None) -> str | None:
    """The first non-empty value, else None."""
    return next((v for v in values if v), None)


def encode(msg: dict[str, object]) -> bytes:
    """Compact JSON, UTF-8 (no NaN: `result_message` gives null instead)."""
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


@dataclass(slots=True)
class Message:
    """One result on its way: `serial` keeps the order it was kept in."""

    serial: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class MqttCounts:
    """What the publisher has done so far (for tests, tools and the log)."""

    acknowledged: int   # result messages the broker acknowledged (reviews and replays included)
    buffered: int       # kept, not yet acknowledged
    dropped: int        # not sent: the buffer was full, or the thread fell behind and its queues refused them
    replayed: int       # acknowledged messages sent again after a lost link
    connected: bool
    connections: int    # successful logins so far
    reviews: int        # final verdicts of HOLD parts taken for sending


class ResultPublisher(Worker):
    """The thread that owns the paho client: takes parts, keeps them until acknowledged, publishes state and results."""

    role = "mqtt"
    nice = 10  # the plant's messages come after verdicts, records and the PLC

    def __init__(self, feed: OutputFeed, link: BrokerLink, topics: Topics) -> None:
        super().__init__()
        self._feed, self._link, self._topics = feed, link, topics
        self._station = station_fields(feed.cfg)
        self._limit = feed.cfg.mqtt.buffer_limit
        self._waiting: deque[Message] = deque()   # to publish on this connection, oldest first
        self._unacked: dict[int, Message] = {}    # published on this connection, by paho's message id
        self._recent: deque[Message] = deque(maxlen=REPLAY)  # acknowledged, newest last
        self._serial = 0
        self._held: AwaitingReview[tuple[dict[str, object], tuple[str, ...]]] = AwaitingReview()
        self._reviews = 0
        self._client: paho.Client | None = None
        self._connected = False
        self._login_started = 0.0
        self._link_was_up = False   # a connection broke since the last login: replay on the next
        self._retry_at = 0.0
        self._retry_s = RETRY_MIN_S
        self._problem = ""          # while set, MQTT_LINK is shown (the broker away, or what it kept being sent)
        self._alarm_at = 0.0
        self._dropped_shown = 0
        self._state_lock = threading.Lock()
        self._state_payload = b""
        self._state_version = 0
        self._state_sent = -1       # the version published on this connection (-1: none yet)
        self._state_mid = -1        # paho's message id of that publication, until acknowledged
        self._state_is_halted = False
        self._counts_lock = threading.RLock()  # callbacks may run inside a paho call
        self._acknowledged = self._dropped = self._replayed = self._connections = 0
        self._on_state(feed.state.state())
        feed.state.subscribe(self._on_state)

    # --- what other threads call -------------------------------------------------------------------
    def _on_state(self, state: StationState) -> None:
        """Keep the newest state for the thread to publish (called from the thread that changed it; never waits)."""
        payload = encode({"v": PAYLOAD_VERSION, **self._station, "state": state.value, "since": iso_utc(utc_now()),
                          "software": f"hmi {__version__}"})
        with self._state_lock:
            self._state_payload = payload
            self._state_version += 1
            self._state_is_halted = state is StationState.HALTED

    def counts(self) -> MqttCounts:
        """A snapshot of what was sent, kept and dropped."""
        with self._counts_lock:
            return MqttCounts(self._acknowledged, len(self._waiting) + len(self._unacked),
                              self._dropped + self._feed.parts.refused + self._feed.reviews.refused, self._replayed,
                              self._connected, self._connections, self._reviews)

    # --- the thread --------------------------------------------------------------------------------
    def loop_once(self) -> None:
        """Take what parts and reviews came, serve the connection, publish what waits, show the alarms."""
        self._take(STEP_WAIT_S)
        self._serve()
        if self._connected:
            self._publish_results()
            if not self._state_is_halted:  # Halted goes last, after the last flush on stop
                self._publish_state()
        self._show_alarms()

    def run(self) -> None:
        """Publish until stop, then a bounded last flush: the results still kept, then the Halted state."""
        super().run()
        self._last_flush()

    def teardown(self) -> None:
        """Drop the client (its socket closes)."""
        self._drop_client()

    def _last_flush(self) -> None:
        deadline = time.monotonic() + FLUSH_S
        while self._take(0.0):
            pass
        tries = self._connections
        if self._client is None:
            self._retry_at = 0.0  # one more try now: the broker may be back
        attempted = False
        while time.monotonic() < deadline:
            if self._client is None:
                if attempted or self._connections > tries:
                    break
                attempted = True
            self._serve()
            if self._connected:
                self._publish_results()
                if not self._waiting and not self._unacked or deadline - time.monotonic() < 1.0:
                    self._publish_state()
                    if (self._state_sent == self._state_version and self._state_mid < 0 and not self._unacked
                            and not self._waiting):
                        break
            if self._client is not None:
                time.sleep(STEP_WAIT_S / 2)
        left = len(self._waiting) + len(self._unacked) + len(self._feed.parts) + len(self._feed.reviews)
        if self._connected and self._client is not None:
            self._client.on_disconnect = None
            self._client.disconnect()  # a clean goodbye: the broker does not publish the last will
        self._drop_client()
        if left:
            log.warning("%d part results were not sent over MQTT to %s before the station stopped (%s); they are in "
                        "the station's records", left, self._link.name, self._problem or "the broker was slow")
        else:
            log.info("MQTT: every part result reached %s; state Halted published", self._link.name)

    def _take(self, wait_s: float) -> int:
        """Keep the parts and reviews that came (waiting up to `wait_s` for a part when none came); how many."""
        # Reviews are taken first and kept after the parts taken with them: a HOLD part whose list was full gets
        # its default at once, offered just before the part itself, and its message should go first.
        reviews = list(_take_now(self._feed.reviews, TAKE_MAX))
        parts = self._feed.parts
        part = parts.take(wait_s) if wait_s > 0 and not reviews else parts.take_nowait()
        taken = 0
        while part is not None:
            self._keep(part)
            taken += 1
            if taken >= TAKE_MAX:
                break
            part = parts.take_nowait()
        for review in reviews:
            self._keep_review(review)
        return taken + len(reviews)

    def _keep(self, part: Part) -> None:
        msg = result_message(part, self._station)
        if part.verdict is Verdict.HOLD:  # its review comes later, as a final message with these fields
            self._held.keep(part.seq, (msg, part.setup.defect_types if part.setup else ()))
        self._buffer(part.seq, msg)

    def _keep_review(self, review: OperatorReview) -> None:
        held = self._held.take(review.seq)
        msg, defect_types = held if held is not None else (None, ())
        with self._counts_lock:
            self._reviews += 1
        self._buffer(review.seq, review_message(review, msg, defect_types, self._station))

    def _buffer(self, seq: int, msg: dict[str, object]) -> None:
        """Keep a message until the broker acknowledges it; when the buffer is full it is counted as dropped."""
        if len(self._waiting) + len(self._unacked) >= self._limit:
            with self._counts_lock:
                self._dropped += 1
            if self._dropped_shown == 0:
                self._alarm_at = 0.0  # the first drop shows at once
            return
        self._serial += 1
        message = Message(self._serial, seq, encode(msg))
        with self._counts_lock:
            self._waiting.append(message)

    # --- the connection ----------------------------------------------------------------------------
    def _serve(self) -> None:
        """Connect when due; else read and write the socket (acknowledgements arrive through the callbacks)."""
        if self._client is None:
            if time.monotonic() >= self._retry_at:
                self._connect()
            return
        rc = self._client.loop(0)
        if self._client is None:
            return  # a callback found the link gone
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._link_down(_error_text(rc))
        elif not self._connected and time.monotonic() - self._login_started > CONNECT_TIMEOUT_S:
            self._link_down(f"no answer to the login within {CONNECT_TIMEOUT_S:.0f} s")

    def _connect(self) -> None:
        link = self._link
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=link.client_id, clean_session=True,
                             protocol=paho.MQTTv311)
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.max_inflight_messages_set(WINDOW + 1)  # the results' window and the state message
        client.will_set(self._topics.state, encode({"v": PAYLOAD_VERSION, **self._station, "state": "Offline",
                                                    "software": f"hmi {__version__}"}), qos=1, retain=True)
        if link.username:
            client.username_pw_set(link.username, link.password)
        if link.tls is not None:
            client.tls_set_context(link.tls)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client, self._login_started = client, time.monotonic()
        try:
            client.connect(link.host, link.port, keepalive=KEEPALIVE_S)
        except ssl.SSLCertVerificationError as exc:
            self._link_down(f"its TLS certificate is not trusted ({exc.verify_message}); check mqtt.ca_file")
        except ssl.SSLError as exc:
            self._link_down(f"TLS failed: {exc.reason or exc}")
        except OSError as exc:
            self._link_down(_os_error_text(exc))
        except ValueError as exc:  # a host name that cannot be encoded (IDNA)
            self._link_down(f"the broker's address cannot be used ({exc}); check mqtt.url")

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if client is not self._client:
            return
        if reason_code.is_failure:
            self._link_down(f"the broker refused the login: {reason_code}; check mqtt.username, the password and "
                            "mqtt.client_id")
            return
        with self._counts_lock:
            self._connected = True
            self._connections += 1
            if self._link_was_up:  # the broker may have lost what it acknowledged last: send it again
                again = list(self._recent)
                self._waiting.extendleft(reversed(again))
                self._replayed += len(again)
                self._recent.clear()
                self._link_was_up = False
        self._retry_s = RETRY_MIN_S
        self._state_sent, self._state_mid = -1, -1
        if self._problem:
            log.info("MQTT broker %s reached again; sending the %d results kept", self._link.name, len(self._waiting))
            self._problem = DRAINING
            self._alarm_at = 0.0
        else:
            log.info("MQTT: connected to %s as %s", self._link.name, self._link.client_id)

    def _on_disconnect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if client is self._client:
            why = "" if str(reason_code) in ("Success", "Unspecified error") else f": {reason_code}"
            self._link_down(f"the connection was lost{why}")

    def _on_publish(self, client, _userdata, mid, _reason_code, _properties) -> None:
        if client is not self._client:
            return
        if mid == self._state_mid:
            self._state_mid = -1
            return
        with self._counts_lock:
            message = self._unacked.pop(mid, None)
            if message is not None:
                self._acknowledged += 1
                self._recent.append(message)

    def _link_down(self, problem: str) -> None:
        """The connection is gone (or never came): what was not acknowledged waits again, retry with backoff."""
        with self._counts_lock:
            if self._connected:
                self._link_was_up = True
            self._connected = False
            if self._unacked:
                self._waiting.extendleft(sorted(self._unacked.values(), key=lambda m: m.serial, reverse=True))
                self._unacked.clear()
        self._drop_client()
        if self._problem in ("", DRAINING):
            log.warning("MQTT broker %s cannot be reached (%s); results are kept (up to %d) and sent when it is back",
                        self._link.name, problem, self._limit)
        self._problem = problem
        self._alarm_at = 0.0
        self._retry_at = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._connected = False
        if client is not None:
            client.on_connect = client.on_disconnect = client.on_publish = None
            sock = client.socket()
            if sock is not None:
                sock.close()

    # --- publishing --------------------------------------------------------------------------------
    def _publish_results(self) -> None:
        client = self._client
        while client is not None and self._waiting and len(self._unacked) < WINDOW:
            message = self._waiting[0]
            info = client.publish(self._topics.result, message.payload, qos=1)
            if self._client is not client:
                return  # the link broke while writing (a callback): the message still waits
            with self._counts_lock:
                self._waiting.popleft()
                self._unacked[info.mid] = message  # paho keeps its own copy until the broker acknowledges
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._link_down(_error_text(info.rc))
                return

    def _publish_state(self) -> None:
        with self._state_lock:
            version, payload = self._state_version, self._state_payload
        if version == self._state_sent or self._client is None:
            return
        info = self._client.publish(self._topics.state, payload, qos=1, retain=True)
        self._state_sent, self._state_mid = version, info.mid
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS and self._client is not None:
            self._link_down(_error_text(info.rc))

    # --- alarms ------------------------------------------------------------------------------------
    def _show_alarms(self) -> None:
        now = time.monotonic()
        if now < self._alarm_at:
            return
        self._alarm_at = now + ALARM_EVERY_S
        alarms = self._feed.alarms
        counts = self.counts()
        if counts.dropped != self._dropped_shown:
            self._dropped_shown = counts.dropped
            alarms.raise_(MQTT_DROPPED, dropped=counts.dropped, limit=self._limit)
        if self._connected and counts.buffered == 0:
            if self._problem:
                log.info("MQTT: every result kept while %s was away has been sent", self._link.name)
            self._problem = ""
            alarms.clear(MQTT_LINK)
            alarms.clear(MQTT_DROPPED)
        elif self._problem:
            alarms.raise_(MQTT_LINK, broker=self._link.name, problem=self._problem, buffered=counts.buffered)


def _take_now(queue: BoundedQueue[OperatorReview], most: int) -> Iterator[OperatorReview]:
    """What `queue` holds now, oldest first, at most `most` items."""
    for _ in range(most):
        item = queue.take_nowait()
        if item is None:
            return
        yield item


def _error_text(rc: MQTTErrorCode) -> str:
    return f"the connection was lost: {paho.error_string(rc).rstrip('.')}"


def _os_error_text(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: no broker listens there"
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:.0f} s"
    return exc.strerror or str(exc) or type(exc).__name__


class MqttResults:
    """The MQTT output: one publisher thread fed the station's parts and reviews; opens nothing before `start`."""

    def __init__(self, feed: OutputFeed) -> None:
        self.link = BrokerLink.of(feed.cfg)
        self.topics = Topics.of(feed.cfg)
        self.publisher = ResultPublisher(feed, self.link, self.topics)

    def start(self) -> None:
        """Start the publisher (it connects, and keeps trying while the broker is away)."""
        log.info("MQTT results to %s on %s (state on %s)", self.link.name, self.topics.result, self.topics.state)
        self.publisher.start()

    def stop(self) -> None:
        """Send what is kept (bounded), then the Halted state, then disconnect."""
        self.publisher.stop()
        if not self.publisher.join(FLUSH_S + 2 * CONNECT_TIMEOUT_S + 5.0):
            log.warning("the MQTT thread did not end in time; stopping without it")

    def workers(self) -> list[Worker]:
        """The publisher, for the health panel."""
        return [self.publisher]

    def counts(self) -> MqttCounts:
        """What was sent, kept and dropped so far."""
        return self.publisher.counts()


__all__ = ["MqttResults", "MqttCounts", "Topics", "station_topic_name", "result_message", "review_message"]
