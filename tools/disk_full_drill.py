"""Fill the records' disk under the running station, kill it at random moments, and check the line stayed fail-safe.

Usage (as root: it mounts a small tmpfs for the data folder and unmounts it at the end):
    .venv/bin/python tools/disk_full_drill.py [--rounds 100] [--size-mb 64] [--seed 1]
    .venv/bin/python tools/disk_full_drill.py --rounds 10        (a short run)

The station's data folder lies on a filesystem of --size-mb. A simulated PLC runs in its own process for the
whole drill. Rounds come in cycles of ten: the disk fills at a random moment while the station runs (1), the
station starts on a full disk (2-5), space returns at a random moment (6), the disk has room (7-10). While
the disk is full a filler keeps it full, taking any space that frees (as a runaway log would). Each round
starts `hmi run --headless` and kills it with SIGKILL after a random delay; the station must not exit by
itself, and the records must stay sound (integrity, no part number twice, the audit chain). After the
rounds the station runs on the full disk until the records' reserve is used up (the PLC must see station
state 2, fault), then it is stopped cleanly there and started again on it, and space is given back.

At the end every result the PLC holds must be in `inspections` with the same verdict; no part judged while
the disk was full (after a grace of --grace-s for the station to notice) may have reached the PLC with
another verdict than NOT_INSPECTED; parts whose records could not be written must have no result at all.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import snap7

from drill_support import ENV, PlcProcess, plc_against_records, records_problems, station_command, verdict

# The words the records give such parts (hmi.store.writer.ON_RESERVE and NOT_SENT).
ON_RESERVE = "the disk is full"
NOT_SENT = "records could not be written"
SETTINGS = ("camera.rate_hz=20", "store.records_reserve_mb=1", "store.image_floor_mb=8", "store.low_disk_mb=16",
            "store.image_quota_mb=8", "store.ok_image_sample=5")
PLAN = ("fills", "full", "full", "full", "full", "returns", "room", "room", "room", "room")


class Filler:
    """Fills the disk and keeps it full while `full` (taking whatever space frees), like a runaway log."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "filler.bin"
        self.full_since: datetime | None = None
        self.windows: list[tuple[datetime, datetime | None]] = []  # when the disk was full, in UTC
        self._on = threading.Event()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="filler", daemon=True)
        self._thread.start()

    @property
    def full(self) -> bool:
        """True while the filler keeps the disk full."""
        return self._on.is_set()

    def fill(self) -> None:
        """Fill the disk now and keep it full."""
        self._grow()
        self.windows.append((datetime.now(timezone.utc), None))
        self._on.set()

    def free(self) -> None:
        """Give all the space back."""
        self._on.clear()
        self.path.unlink(missing_ok=True)
        start, _ = self.windows[-1]
        self.windows[-1] = (start, datetime.now(timezone.utc))

    def stop(self) -> None:
        """End the filler thread."""
        self._halt.set()
        self._thread.join(5)

    def _grow(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
                block = b"\0" * chunk
                try:
                    while True:
                        os.write(fd, block)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def _run(self) -> None:
        while not self._halt.wait(0.3):
            if self._on.is_set():
                self._grow()


class StateWatch:
    """Reads the station's state byte as the PLC sees it, ten times a second; notes a fault (2) per round."""

    def __init__(self, port: int) -> None:
        self.client = snap7.client.Client()
        self.client.connect("127.0.0.1", 0, 1, port)
        self.fault_seen = False
        self._beat: int | None = None
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state watch", daemon=True)
        self._thread.start()

    def new_round(self) -> None:
        """Forget what the last round's station left in the header."""
        with self._lock:
            self.fault_seen = False
            self._beat = self._read()[0]

    def stop(self) -> None:
        """End the watch and its connection."""
        self._halt.set()
        self._thread.join(5)
        self.client.disconnect()
        self.client.destroy()

    def _read(self) -> tuple[int, int]:
        """Heartbeat and state (called with the lock held: one request at a time on the client)."""
        data = self.client.db_read(100, 0, 3)
        return int.from_bytes(data[0:2], "big"), data[2]

    def _run(self) -> None:
        while not self._halt.wait(0.1):
            with self._lock:
                try:
                    beat, state = self._read()
                except Exception as exc:  # noqa: BLE001 - a missed look is retried; the drill goes on
                    print(f"(state watch: {exc})", flush=True)
                    continue
                if beat != self._beat and state == 2:  # written by this round's station
                    self.fault_seen = True


@dataclass
class Round:
    """One start and kill of the station, as the table shows it."""

    number: int
    plan: str
    delay: float
    event_at: float | None = None
    full_at_kill: bool = False
    judged: int = 0
    on_reserve: int = 0
    unsent: int = 0
    fault_seen: bool = False
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The round's row in the table."""
        event = {"fills": "fills at", "returns": "room at"}.get(self.plan)
        what = f"{event} {self.event_at:4.1f} s" if event and self.event_at is not None else "-"
        return (f"{self.number:5d}  {self.plan:7s}  {what:13s}  {self.delay:5.1f} s  "
                f"{'full' if self.full_at_kill else 'room':4s}  {self.judged:6d}  {self.on_reserve:6d}  "
                f"{self.unsent:6d}  {'yes' if self.fault_seen else '-':5s}  "
                f"{'; '.join(self.problems) if self.problems else 'ok'}")


HEADER = ("round  disk     during round   killed   kill  judged  NI res  NI not  fault  checks\n"
          "       at start                after    disk          (sent)  sent    seen")


def _mount(folder: Path, size_mb: int) -> None:
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(folder)],
                       check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        shutil.rmtree(folder.parent, ignore_errors=True)
        print(f"disk_full_drill: cannot mount a {size_mb} MB filesystem at {folder} ({detail.strip()}): run it as "
              "root, where mount -t tmpfs is allowed", file=sys.stderr)
        sys.exit(2)


def _rows_since(db: Path, after: int) -> tuple[int, dict[str, int]]:
    """The newest seq, and what the parts after `after` became: judged, NOT_INSPECTED on the reserve, unsent."""
    if not db.exists():
        return after, {}
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT seq, auto_verdict, reason FROM inspections WHERE seq > ?", (after,)).fetchall()
    kinds = {"judged": 0, "on_reserve": 0, "unsent": 0}
    for _, verdict, reason in rows:
        kind = ("on_reserve" if (reason or "").startswith(ON_RESERVE) else
                "unsent" if (reason or "").startswith(NOT_SENT) else "judged")
        kinds[kind] += 1
    return max([after, *(r[0] for r in rows)]), kinds


def _round(n: int, rng: random.Random, cmd: list[str], data: Path, filler: Filler, watch: StateWatch,
           logs: Path, newest: int, max_delay: float) -> tuple[Round, int]:
    plan = PLAN[(n - 1) % len(PLAN)]
    rnd = Round(n, plan, rng.uniform(1.0, max_delay))
    if plan in ("full", "returns") and not filler.full:
        filler.fill()
    if plan in ("fills", "room") and filler.full:
        filler.free()
    if plan in ("fills", "returns"):
        rnd.event_at = rng.uniform(0.5, rnd.delay - 0.3)
    watch.new_round()
    with open(logs / f"round-{n:03d}.log", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=ENV)
        started = time.monotonic()
        if rnd.event_at is not None:
            time.sleep(max(rnd.event_at - (time.monotonic() - started), 0))
            if plan == "fills":
                filler.fill()
            else:
                filler.free()
        time.sleep(max(rnd.delay - (time.monotonic() - started), 0))
        rnd.full_at_kill = filler.full
        if proc.poll() is not None:
            rnd.problems.append(f"the station exited by itself with {proc.returncode} (see {err.name})")
        else:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    rnd.fault_seen = watch.fault_seen
    problems, _ = records_problems(data)
    rnd.problems += problems
    newest, kinds = _rows_since(data / "hmi.db", newest)
    rnd.judged, rnd.on_reserve, rnd.unsent = kinds.get("judged", 0), kinds.get("on_reserve", 0), kinds.get("unsent", 0)
    return rnd, newest


def _reserve_runs_out(cmd: list[str], data: Path, filler: Filler, watch: StateWatch, logs: Path,
                      newest: int) -> tuple[list[str], int]:
    """Keep the station on the full disk until its reserve is used up (the PLC must see the fault), then give
    the space back while it runs: it must catch up and judge again by itself."""
    if not filler.full:
        filler.fill()
    watch.new_round()
    with open(logs / "reserve-runs-out.log", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=ENV)
        started = time.monotonic()
        while proc.poll() is None and not watch.fault_seen and time.monotonic() - started < 240:
            time.sleep(0.5)
        fault_after = time.monotonic() - started
        time.sleep(3)  # parts judged while the PLC sees the fault get no result
        newest, full = _rows_since(data / "hmi.db", newest)
        filler.free()
        again: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline and not again.get("judged"):
            time.sleep(1)
            newest, more = _rows_since(data / "hmi.db", newest)
            again = {k: again.get(k, 0) + v for k, v in more.items()}
        exited = proc.poll()
        if exited is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    print(f"on the full disk until the reserve ran out: the PLC saw the fault after {fault_after:.0f} s, having had "
          f"{full.get('on_reserve', 0)} parts NOT_INSPECTED from the reserve; after space returned "
          f"{again.get('unsent', 0)} parts that got no result were recorded and {again.get('judged', 0)} parts judged "
          "again; killed", flush=True)
    out = []
    if exited is not None:
        out.append(f"the station exited by itself with {exited} (see {err.name})")
    if not watch.fault_seen:
        out.append("the PLC never saw the station in fault although the reserve must have run out")
    if not again.get("judged"):
        out.append("the station did not judge again within 30 s after space returned")
    problems, _ = records_problems(data)
    return out + problems, newest


def _clean_stop_then_start_on_a_full_disk(cmd: list[str], data: Path, filler: Filler, watch: StateWatch,
                                          logs: Path, newest: int) -> tuple[list[str], int]:
    """Stop the station cleanly on the full disk (its log goes, the filler takes the space), start it again there,
    then give the space back: it must run fail-safe, then judge again by itself."""
    out: list[str] = []
    if not filler.full:
        filler.fill()
    with open(logs / "clean-stop.log", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=ENV)
        time.sleep(6)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    time.sleep(1)  # the filler takes whatever the stop freed
    newest, _ = _rows_since(data / "hmi.db", newest)
    watch.new_round()
    with open(logs / "start-on-full.log", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=ENV)
        time.sleep(8)
        running = proc.poll() is None
        newest, on_full = _rows_since(data / "hmi.db", newest)
        fault = watch.fault_seen
        filler.free()
        judged_again = {}
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline and not judged_again.get("judged"):
            time.sleep(1)
            newest, judged_again = _rows_since(data / "hmi.db", newest)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    print(f"clean stop on the full disk, then a start on it: {'running' if running else 'EXITED'} after 8 s; "
          f"{on_full.get('on_reserve', 0)} parts NOT_INSPECTED on the reserve, {on_full.get('unsent', 0)} unsent, "
          f"{on_full.get('judged', 0)} judged; fault seen by the PLC: {'yes' if fault else 'no'}; after space "
          f"returned: {judged_again.get('judged', 0)} parts judged again")
    if not running:
        out.append(f"the station started on a full disk after a clean stop exited (see {err.name})")
    if on_full.get("judged"):
        out.append(f"{on_full['judged']} parts were judged while it ran on the full disk")
    if not (on_full.get("on_reserve") or fault):
        out.append("the station started on a full disk neither sent NOT_INSPECTED results nor showed a fault")
    if not judged_again.get("judged"):
        out.append("the station did not judge again within 30 s after space returned")
    problems, _ = records_problems(data)
    return out + problems, newest


def _full_when(captured_at: str, windows: list[tuple[datetime, datetime | None]], grace_s: float) -> bool:
    at = datetime.fromisoformat(captured_at.replace("Z", "+00:00"))
    return any(start + timedelta(seconds=grace_s) <= at and (end is None or at < end) for start, end in windows)


def _fail_safe_problems(results: list[dict], rows: dict[int, tuple], windows, grace_s: float) -> list[str]:
    """Parts judged while the disk was full reached the PLC only as NOT_INSPECTED; unsent parts not at all."""
    problems = []
    got = {r["seq"]: r["verdict"] for r in results}
    reserve_other = [s for s, (_, reason, *_) in rows.items() if (reason or "").startswith(ON_RESERVE)
                     and got.get(s, "NOT_INSPECTED") != "NOT_INSPECTED"]
    unsent_sent = [s for s, (_, reason, *_) in rows.items() if (reason or "").startswith(NOT_SENT) and s in got]
    judged_on_full = [s for s, (_, _, _, at) in rows.items() if s in got and got[s] != "NOT_INSPECTED"
                      and _full_when(at, windows, grace_s)]
    if reserve_other:
        problems.append(f"{len(reserve_other)} parts recorded on the reserve reached the PLC judged, e.g. "
                        f"{reserve_other[:5]}")
    if unsent_sent:
        problems.append(f"{len(unsent_sent)} parts recorded as unsent reached the PLC, e.g. {unsent_sent[:5]}")
    if judged_on_full:
        problems.append(f"{len(judged_on_full)} parts captured while the disk was full reached the PLC judged, e.g. "
                        f"{judged_on_full[:5]}")
    return problems


def main() -> int:
    """Run the drill; exit 1 when any check fails, 2 when it cannot mount its filesystem."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=100, help="SIGKILLs (default 100: 50 on a full disk, 50 after)")
    ap.add_argument("--size-mb", type=int, default=64, help="size of the records' filesystem")
    ap.add_argument("--max-delay", type=float, default=8.0, help="longest run before the kill, seconds")
    ap.add_argument("--grace-s", type=float, default=3.0, help="time the station may take to notice a full disk")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="hmi-diskfull-"))
    mnt, logs = work / "disk", work / "logs"
    mnt.mkdir()
    logs.mkdir()
    _mount(mnt, args.size_mb)
    data = mnt / "data"
    failures: list[str] = []
    t_start = time.monotonic()
    plc = PlcProcess(work / "plc.json")
    filler = Filler(mnt)
    watch = StateWatch(plc.port)
    try:
        cmd = station_command(data, plc.port, *SETTINGS)
        print(f"records on a {args.size_mb} MB tmpfs at {mnt}; station logs in {logs}; PLC on port {plc.port}")
        print(HEADER, flush=True)
        newest = 0
        rounds: list[Round] = []
        for n in range(1, args.rounds + 1):
            rnd, newest = _round(n, rng, cmd, data, filler, watch, logs, newest, args.max_delay)
            rounds.append(rnd)
            failures += [f"round {n}: {p}" for p in rnd.problems]
            print(rnd.line(), flush=True)
        problems, newest = _reserve_runs_out(cmd, data, filler, watch, logs, newest)
        failures += problems
        failures += _clean_stop_then_start_on_a_full_disk(cmd, data, filler, watch, logs, newest)[0]
    finally:
        watch.stop()
        filler.stop()
        if filler.full:
            filler.free()
        results = plc.stop()
    problems, rows = plc_against_records(results, data / "hmi.db")
    failures += problems
    failures += _fail_safe_problems(results, rows, filler.windows, args.grace_s)
    subprocess.run(["umount", str(mnt)], check=False)
    kills_full = sum(r.full_at_kill for r in rounds)
    verdicts = {v: sum(1 for r in results if r["verdict"] == v) for v in ("OK", "NG", "HOLD", "NOT_INSPECTED")}
    print(f"{len(rounds)} SIGKILLs in {time.monotonic() - t_start:.0f} s ({kills_full} on a full disk, "
          f"{len(rounds) - kills_full} with room); the PLC received {len(results)} results "
          f"({', '.join(f'{k} {v}' for k, v in verdicts.items())}), every one in the records with the same verdict: "
          f"{'yes' if not problems else 'NO'}; {len(rows)} parts recorded, "
          f"{sum(1 for r in rows.values() if (r[1] or '').startswith(ON_RESERVE))} of them NOT_INSPECTED on the "
          f"reserve, {sum(1 for r in rows.values() if (r[1] or '').startswith(NOT_SENT))} unsent")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
