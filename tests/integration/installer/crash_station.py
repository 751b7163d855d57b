"""Run by test_installer_crash.py in its own process: a station that crashes on purpose.

usage: python crash_station.py DATA_DIR PLC_PORT main|thread
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("PYLON_CAMEMU", "1")

from hmi.config.loader import load_station  # noqa: E402
from hmi.core.logs import install_crash_handler, setup_logging  # noqa: E402
from hmi.plc.layout import StationState  # noqa: E402
from hmi.station import build_station  # noqa: E402


def main() -> None:
    data, port, where = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    setup_logging(data)
    overrides = ["plc.mode=s7", "plc.host=127.0.0.1", f"plc.port={port}", "camera.rate_hz=20"]
    install_crash_handler(data, lambda: load_station(data, overrides).model_dump(mode="json"))
    station = build_station(load_station(data, overrides), data)
    station.start()
    deadline = time.monotonic() + 60
    while station.outlet.counts().total < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"running: {station.outlet.counts().total} parts", flush=True)
    if where == "thread":
        worker = threading.Thread(target=lambda: 1 / 0, name="label-printer")
        worker.start()
        worker.join()
        deadline = time.monotonic() + 60  # the crash callback told the PLC: the station is in fault
        while station.plc_status().station_state is not StationState.FAULT and time.monotonic() < deadline:
            time.sleep(0.01)
        station.stop()
        return
    raise RuntimeError("deliberate crash in the main thread")


if __name__ == "__main__":
    main()
