"""The S7 client wrapped for the station: short timeouts, timed requests, failures in plain words.

Only the thread that owns an `S7Link` may call it. A link is "up" only because its last request
succeeded; snap7's own connected flag is never consulted.
"""

from __future__ import annotations

import re
import time
from enum import Enum

import snap7
from snap7.connection import ISOTCPConnection
from snap7.error import (S7ConnectionError, S7Error, S7PacketLostError, S7ProtocolError, S7StalePacketError,
                         S7TimeoutError)

from hmi.core.errors import PlcError

# snap7's own connect() waits up to 5 s; the PLC thread must keep draining its queue, so it
# connects with a short timeout and gives every request a bounded wait.
CONNECT_TIMEOUT_S = 0.3
IO_TIMEOUT_S = 0.5

_ITEM_CODE = re.compile(r"\(0x([0-9a-fA-F]{2})\)")
_HEADER_CODE = re.compile(r"class=0x([0-9a-fA-F]{2}), code=0x([0-9a-fA-F]{2})")
# The job refused as a whole: what an S7-1200/1500 answers while PUT/GET access is not allowed.
_PUT_GET_OFF = 0x8104


class LinkFailure(str, Enum):
    """Why the link failed, coarse enough to choose the advice given to people."""

    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    S7_REFUSED = "s7_refused"
    NO_DB = "no_db"
    DB_TOO_SMALL = "db_too_small"
    ACCESS_DENIED = "access_denied"
    LOST = "lost"
    PROTOCOL = "protocol"


# The PLC answers, but refuses what the station asks: its settings or the station's, not the cable.
REFUSALS = frozenset({LinkFailure.S7_REFUSED, LinkFailure.NO_DB, LinkFailure.DB_TOO_SMALL, LinkFailure.ACCESS_DENIED,
                      LinkFailure.PROTOCOL})


class PlcLinkError(PlcError):
    """A failed connect, read or write, with its coarse cause (`failure`)."""

    def __init__(self, failure: LinkFailure, what: str, todo: str, *, silent: bool = False) -> None:
        super().__init__(what, todo)
        self.failure = failure
        self.silent = silent  # the peer took the connection but never answered

    @property
    def refused(self) -> bool:
        """True when the PLC answered but refused the request (PUT/GET, DB number or size, rack/slot)."""
        return self.failure in REFUSALS and not self.silent

    @property
    def unanswered(self) -> bool:
        """True when a request went out and no answer came: a write may still be applied by the PLC."""
        return self.failure in (LinkFailure.TIMEOUT, LinkFailure.LOST) or self.silent


class _StationClient(snap7.Client):
    """snap7's client with a connect that honours a timeout (as its routed connect already does)."""

    def connect_within(self, host: str, rack: int, slot: int, port: int, timeout_s: float) -> None:
        """Open TCP, ISO (COTP) and S7 sessions, each step waiting at most `timeout_s`."""
        self.remote_tsap = (self.connection_type << 8) | (rack << 5) | slot
        self.host, self.port, self.rack, self.slot = host, port, rack, slot
        self.connection = ISOTCPConnection(host=host, port=port, local_tsap=self.local_tsap,
                                           remote_tsap=self.remote_tsap)
        try:
            self.connection.connect(timeout=timeout_s)
            self._setup_communication()
        except BaseException:
            self.disconnect()
            raise
        self.connected = True


def _os_cause(exc: BaseException) -> OSError | None:
    """The socket error underneath a snap7 error, if there is one."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, OSError) and not isinstance(seen, S7Error):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class S7Link:
    """One S7 connection to the PLC's interface DB: connect, timed reads and writes, close."""

    def __init__(self, host: str, port: int, rack: int, slot: int, db: int, *,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S, io_timeout_s: float = IO_TIMEOUT_S) -> None:
        self.host = host
        self.port = port
        self.rack = rack
        self.slot = slot
        self.db = db
        self.connect_timeout_s = connect_timeout_s
        self.io_timeout_s = io_timeout_s
        self._client = _StationClient()
        self._up = False

    @property
    def up(self) -> bool:
        """True while the last connect or request succeeded."""
        return self._up

    @property
    def address(self) -> str:
        """host:port, as people see it in messages."""
        return f"{self.host}:{self.port}"

    def connect(self) -> float:
        """(Re)connect; returns milliseconds taken. Raises PlcLinkError in plain words."""
        self.close()
        t0 = time.perf_counter()
        try:
            self._client.connect_within(self.host, self.rack, self.slot, self.port, self.connect_timeout_s)
            conn = self._client.connection
            if conn is not None and conn.socket is not None:
                conn.timeout = self.io_timeout_s
                conn.socket.settimeout(self.io_timeout_s)
        except (S7Error, OSError) as exc:
            raise self._connect_error(exc) from exc
        self._up = True
        return (time.perf_counter() - t0) * 1000.0

    def close(self) -> None:
        """Drop the connection (quietly; it may already be gone)."""
        self._up = False
        try:
            self._client.disconnect()
        except (S7Error, OSError):
            pass

    def write(self, offset: int, data: bytes) -> float:
        """Write `data` at `offset` of the DB in one request; returns the round trip in ms."""
        t0 = time.perf_counter()
        try:
            self._client.db_write(self.db, offset, bytearray(data))
        except (S7Error, OSError) as exc:
            raise self._io_error(exc, "write", offset, len(data)) from exc
        return (time.perf_counter() - t0) * 1000.0

    def read(self, offset: int, size: int) -> tuple[bytes, float]:
        """Read `size` bytes at `offset`; returns the bytes and the round trip in ms."""
        t0 = time.perf_counter()
        try:
            data = self._client.db_read(self.db, offset, size)
        except (S7Error, OSError) as exc:
            raise self._io_error(exc, "read", offset, size) from exc
        return bytes(data), (time.perf_counter() - t0) * 1000.0

    # --- failures in plain words -------------------------------------------------------------
    def _connect_error(self, exc: BaseException) -> PlcLinkError:
        self._up = False
        cause = _os_cause(exc)
        ms = self.connect_timeout_s * 1000
        if isinstance(cause, ConnectionRefusedError):
            return PlcLinkError(LinkFailure.REFUSED, f"PLC {self.address} refused the connection",
                                "check the IP address and port (102 on a real PLC) and that the PLC is switched on")
        if isinstance(cause, TimeoutError) and not isinstance(exc, S7TimeoutError):
            return PlcLinkError(LinkFailure.TIMEOUT, f"PLC {self.address} not answering within {ms:.0f} ms",
                                "check the cable, the IP address and that the PLC is switched on")
        if cause is not None and not isinstance(exc, S7TimeoutError) and "TCP connection failed" in str(exc):
            return PlcLinkError(LinkFailure.UNREACHABLE,
                                f"PLC {self.host} cannot be reached ({cause.strerror or cause})",
                                "check the station's network settings and the PLC's IP address")
        # TCP was accepted, then the ISO/S7 handshake failed or went unanswered.
        if isinstance(exc, S7TimeoutError):
            return PlcLinkError(LinkFailure.S7_REFUSED,
                                f"PLC {self.address} accepted the network connection "
                                f"but gave no S7 answer within {ms:.0f} ms",
                                "check that this address is the PLC and not another device, and its rack "
                                f"{self.rack} / slot {self.slot} (S7-1200/1500: 0/1, S7-300: 0/2)", silent=True)
        return PlcLinkError(LinkFailure.S7_REFUSED,
                            f"PLC {self.address} accepted the network connection but refused the S7 connection ({exc})",
                            f"check rack {self.rack} / slot {self.slot} (S7-1200/1500: 0/1, S7-300: 0/2), "
                            "that PUT/GET access is allowed in the PLC, and that this address is the PLC")

    def _io_error(self, exc: BaseException, op: str, offset: int, size: int) -> PlcLinkError:
        self._up = False
        where = f"DB {self.db} bytes {offset}-{offset + size - 1}"
        if isinstance(exc, S7TimeoutError) or isinstance(_os_cause(exc), TimeoutError):
            return PlcLinkError(LinkFailure.TIMEOUT,
                                f"PLC {self.address} did not answer a {op} within {self.io_timeout_s * 1000:.0f} ms",
                                "check the cable and that the PLC is running")
        if isinstance(exc, (S7StalePacketError, S7PacketLostError)):  # answers out of step: start afresh
            return PlcLinkError(LinkFailure.LOST, f"PLC {self.address} answered out of step during {op} ({exc})",
                                "the station reconnects by itself; check the network if it repeats")
        if isinstance(exc, S7ProtocolError):
            match = _ITEM_CODE.search(str(exc))
            code = int(match.group(1), 16) if match else None
            if code == 0x0A:
                return PlcLinkError(LinkFailure.NO_DB, f"DB {self.db} does not exist in PLC {self.host}",
                                    "check plc.db in the station file and that the interface DB "
                                    "is downloaded to the PLC")
            if code == 0x05:
                return PlcLinkError(LinkFailure.DB_TOO_SMALL,
                                    f"PLC {self.host} refused {op} of {where}: "
                                    "the DB is shorter than the interface needs",
                                    "download the interface DB with its full size (see docs/plc_interface.md)")
            if code == 0x03:
                return PlcLinkError(LinkFailure.ACCESS_DENIED, f"PLC {self.host} refused access to DB {self.db}",
                                    "switch off 'Optimized block access' for the DB and allow PUT/GET in the PLC")
            header = _HEADER_CODE.search(str(exc))
            if header and int(header.group(1), 16) << 8 | int(header.group(2), 16) == _PUT_GET_OFF:
                return PlcLinkError(LinkFailure.ACCESS_DENIED,
                                    f"PLC {self.host} refused the {op} of DB {self.db} (S7 error 0x8104: "
                                    "PUT/GET access is not allowed)",
                                    "enable PUT/GET access in the CPU's protection settings (Protection & Security "
                                    "→ Connection mechanisms)")
            return PlcLinkError(LinkFailure.PROTOCOL, f"PLC {self.address} refused {op} of {where} ({exc})",
                                "check the DB number and size, and that PUT/GET access is allowed in the PLC")
        if isinstance(exc, S7ConnectionError) or isinstance(exc, OSError):
            return PlcLinkError(LinkFailure.LOST, f"PLC {self.address} connection lost during {op} ({exc})",
                                "check the cable and that the PLC is switched on")
        return PlcLinkError(LinkFailure.PROTOCOL, f"PLC {self.address} answered a {op} unexpectedly ({exc})",
                            "check that this address is a Siemens S7 PLC")
