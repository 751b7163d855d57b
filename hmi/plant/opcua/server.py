"""The OPC UA output: asyncua's Server on its own low-priority thread and event loop, fed the station's decided parts.

The thread takes parts off its feed (offered by the verdict outlet, never waited on by the line), turns
each into a VisionResult, keeps it in the result management and fires ResultReady; a HOLD part's result
is partial, and its review (from the feed's reviews queue) is published as the final result with the same
ResultId. It follows the station's state into the VisionStateMachine. Logins are checked by the station's
users (security.StationUsers). A server that cannot start (port in use, certificate folder
not writable) raises OPCUA with the problem and tries again, at growing intervals, while the line runs on.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import socket
import time
from collections import deque

from asyncua import Server, ua

from hmi.core.alarm_catalogue import OPCUA, OPCUA_INSECURE
from hmi.core.errors import StationError
from hmi.core.messages import OperatorReview
from hmi.core.part import Part
from hmi.core.verdict import Verdict
from hmi.pipeline.outputs import AwaitingReview, OutputFeed, StationState
from hmi.pipeline.worker import Worker
from hmi.plant.opcua.model import VisionSystemSpace
from hmi.plant.opcua.results import VisionResult
from hmi.plant.opcua.security import StationUsers, server_identity

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.01      # the longest the loop waits for a part before serving the network again
BATCH = 64              # parts (and reviews) published before the loop serves the network again
COUNTS_EVERY_S = 1.0    # how often ResultsPublished / ResultsRefused are brought up to date
RETRY_FIRST_S = 1.0     # a server that could not start tries again after this, doubling ...
RETRY_MAX_S = 60.0      # ... up to this
LINGER_MAX_S = 1.0      # on stop, how long subscribers are given to receive the last state (Halted)
STOP_S = 10.0


class StartFailure(StationError):
    """The server could not start: shown in the OPCUA alarm, tried again later."""


class OpcuaWorker(Worker):
    """The thread that runs the server's event loop (role 'opcua': a stopped thread raises WORKER_PLANT)."""

    role = "opcua"
    nice = 10

    def __init__(self, feed: OutputFeed) -> None:
        super().__init__()
        self._feed = feed
        self._cfg = feed.cfg.opcua
        self._simulated = feed.cfg.camera.kind != "pylon"
        self._transitions: deque[StationState] = deque()
        self._held: AwaitingReview[tuple[VisionResult, tuple[str, ...]]] = AwaitingReview()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.serving = False   # True while the server listens (for the health panel and the tests)
        self.endpoint = ""     # opc.tcp://host:port/ once it listens

    def follow_state(self) -> None:
        """Keep every state change of the station for the state machine (subscribed once, before the thread runs)."""
        self._feed.state.subscribe(self._transitions.append)  # deque.append: short, thread-safe, never waits

    # --- the thread ----------------------------------------------------------------------------
    def setup(self) -> None:
        """Make the thread's own event loop."""
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)

    def run(self) -> None:
        """Start the server (again and again while it cannot), then publish until stopped."""
        assert self._loop is not None
        self._loop.run_until_complete(self._serve())

    def teardown(self) -> None:
        """End the loop and the helper threads asyncua started on it."""
        if self._loop is None:
            return
        try:
            # asyncua leaves the tasks of sessions still open at its stop (timeouts, subscriptions): end them here.
            left = asyncio.all_tasks(self._loop)
            for task in left:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            self._loop.close()

    # --- serving -------------------------------------------------------------------------------
    async def _serve(self) -> None:
        retry_s, problem = RETRY_FIRST_S, ""
        while not self.stopping:
            try:
                server, space, users = await self._start()
            except Exception as exc:  # noqa: BLE001 - any start failure is an alarm and a retry, never the line's
                text = exc.what if isinstance(exc, StationError) else f"{type(exc).__name__}: {exc}"
                self._feed.alarms.raise_(OPCUA, problem=text)
                if text != problem:
                    log.warning("OPC UA server not started: %s; trying again", text,
                                exc_info=not isinstance(exc, StationError))
                    problem = text
                await self._pause(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)
                continue
            self._feed.alarms.clear(OPCUA)
            self.serving = True
            log.info("OPC UA server on %s (security %s)", self.endpoint, self._cfg.security)
            try:
                await self._publish(space)
                await self._linger(server)
            finally:
                self.serving = False
                await server.stop()
                if users is not None:
                    users.close()
            return

    async def _start(self) -> tuple[Server, VisionSystemSpace, StationUsers | None]:
        cfg, host = self._cfg, self._cfg.host
        _check_port(host, cfg.port)
        hostname = socket.gethostname()
        users = identity = None
        if cfg.security == "basic256sha256":
            if self._feed.users is None:
                raise StartFailure("there are no station users to check OPC UA logins against",
                                   "run the server on a station that keeps records")
            identity = await asyncio.to_thread(server_identity, self._feed.data_dir, hostname)
            users = StationUsers(self._feed.users)
        server = Server(user_manager=users)
        try:
            await server.init()
            url_host = hostname if host in ("0.0.0.0", "::", "") else host
            server.set_endpoint(f"opc.tcp://{url_host}:{cfg.port}/")
            server.socket_address = (host, cfg.port)
            server.set_server_name(f"{self._feed.cfg.station.name} ({self._feed.cfg.station.line})")
            if identity is None:
                server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
                server.set_identity_tokens([ua.AnonymousIdentityToken])
            else:
                await server.load_certificate(identity.certificate, format="der")
                await server.load_private_key(identity.private_key, format="pem")
                await server.set_application_uri(identity.application_uri)
                server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
                server.set_identity_tokens([ua.UserNameIdentityToken])
            space = await VisionSystemSpace.build(server, self._feed.cfg, cfg.results_kept)
            self._transitions.clear()
            await space.show_state(self._feed.state.state())
            await server.start()
        except BaseException:
            if users is not None:
                users.close()
            await _quietly_stop(server)
            raise
        self.endpoint = f"opc.tcp://{url_host}:{cfg.port}/"
        return server, space, users

    async def _publish(self, space: VisionSystemSpace) -> None:
        """Publish parts and reviews as they come, follow the state; on stop, publish what is still queued."""
        parts, reviews, counted_at = self._feed.parts, self._feed.reviews, 0.0
        while True:
            await self._show_transitions(space)
            stopping = self.stopping
            # Reviews taken first are published after the parts taken with them: a HOLD part whose list was
            # full gets its default at once, offered just before the part itself.
            taken = list(itertools.islice(iter(reviews.take_nowait, None), BATCH))
            wait = not (stopping or taken)
            part = parts.take(IDLE_WAIT_S) if wait else parts.take_nowait()  # waits here at most 10 ms
            done = 0
            while part is not None:
                await self._publish_part(space, part)
                done += 1
                part = parts.take_nowait() if done < BATCH else None
            for review in taken:
                await self._publish_review(space, review)
            done += len(taken)
            if time.monotonic() - counted_at > COUNTS_EVERY_S or (stopping and not done):
                await space.show_counts(parts.refused + reviews.refused)
                counted_at = time.monotonic()
            if stopping and not done:
                await self._show_transitions(space)
                return
            await asyncio.sleep(0)  # let the server send what was just published

    async def _publish_part(self, space: VisionSystemSpace, part: Part) -> None:
        result = VisionResult.of(part, simulated=self._simulated)
        if part.verdict is Verdict.HOLD:  # partial until its review comes
            self._held.keep(part.seq, (result, part.setup.defect_types if part.setup else ()))
        await space.publish(result)

    async def _publish_review(self, space: VisionSystemSpace, review: OperatorReview) -> None:
        held = self._held.take(review.seq)
        final = (held[0].reviewed(review, held[1]) if held is not None
                 else VisionResult.of_review(review, simulated=self._simulated))
        await space.publish_final(final)

    async def _show_transitions(self, space: VisionSystemSpace) -> None:
        while self._transitions:
            await space.show_state(self._transitions.popleft())

    async def _linger(self, server: Server) -> None:
        """Give subscribers one publishing interval to receive the last changes before the server closes."""
        subscriptions = server.iserver.subscription_service.subscriptions.values()
        intervals = [s.data.RevisedPublishingInterval / 1000.0 for s in subscriptions]
        if intervals:
            await asyncio.sleep(min(LINGER_MAX_S, max(intervals) + 0.1))

    async def _pause(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking early on stop."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            await asyncio.sleep(0.05)


def _check_port(host: str, port: int) -> None:
    """Refuse at once (without asyncua's traceback) a port another program listens on or an address not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's own socket will
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartFailure(f"port {port} is in use by another program") from None
            if exc.errno == errno.EACCES:
                raise StartFailure(f"port {port} needs administrator rights") from None
            raise StartFailure(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None


async def _quietly_stop(server: Server) -> None:
    try:
        await server.stop()
    except Exception as exc:  # noqa: BLE001 - a half-started server: what it held is released as far as it goes
        log.debug("OPC UA: stopping a half-started server: %s", exc)


class OpcuaServer:
    """The station's OPC UA server (OPC 40100 shape); an Output the builder makes when [opcua] enabled is true."""

    def __init__(self, feed: OutputFeed) -> None:
        self._feed = feed
        self.worker = OpcuaWorker(feed)

    @property
    def endpoint(self) -> str:
        """opc.tcp://host:port/ while the server listens, else ''."""
        return self.worker.endpoint if self.worker.serving else ""

    @property
    def refused(self) -> int:
        """Parts and reviews the server's queues refused because it fell behind (never published)."""
        return self._feed.parts.refused + self._feed.reviews.refused

    def start(self) -> None:
        """Start the server's thread; security none raises OPCUA_INSECURE for as long as it runs."""
        if self._feed.cfg.opcua.security == "none":
            self._feed.alarms.raise_(OPCUA_INSECURE)
        self.worker.follow_state()
        self.worker.start()

    def stop(self) -> None:
        """Publish the parts still queued and the Halted state, then close the server and end its thread."""
        self.worker.stop()
        if not self.worker.join(STOP_S):
            log.warning("the OPC UA thread did not end within %.0f s; the station stops without it", STOP_S)
        self._feed.alarms.clear(OPCUA)
        self._feed.alarms.clear(OPCUA_INSECURE)

    def workers(self) -> list[Worker]:
        """The server's thread."""
        return [self.worker]
