"""Command line: hmi run | inspect | teach | bench (and the station's other tools)."""

from __future__ import annotations

import argparse
import multiprocessing
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from hmi import __version__
from hmi.config.paths import default_data_dir
from hmi.core.errors import StationError

log = logging.getLogger("hmi")


def _common(p: argparse.ArgumentParser, top: bool = False) -> None:
    # Sub-commands take the same options; SUPPRESS keeps a sub-command from resetting what came before it.
    p.add_argument("--data-dir", type=Path, default=None if top else argparse.SUPPRESS,
                   help="where the station keeps config, records and images (default: the platform's data directory)")
    p.add_argument("--set", dest="overrides", action="append", default=[] if top else argparse.SUPPRESS,
                   metavar="KEY=VALUE", help="override a station setting, e.g. --set camera.gain_db=3 (repeatable)")


def _run_options(p: argparse.ArgumentParser, top: bool = False) -> None:
    def d(value):
        return value if top else argparse.SUPPRESS

    p.add_argument("--headless", action="store_true", default=d(False), help="no screens: print a live status line")
    p.add_argument("--max-parts", type=int, default=d(0), help="stop after this many parts (headless)")
    p.add_argument("--fullscreen", action="store_true", default=d(False), help="kiosk: the touchscreen fills the screen")
    p.add_argument("--quit-after", type=float, default=d(0.0), metavar="SECONDS", help="close the station after this long")
    p.add_argument("--screenshot", type=Path, default=d(None), metavar="DIR",
                   help="save one PNG per screen (live.png, review.png, ...) into DIR before quitting")


def build_parser() -> argparse.ArgumentParser:
    """The full command-line grammar."""
    parser = argparse.ArgumentParser(prog="hmi", description="Machine-vision inspection station")
    parser.add_argument("--version", action="version", version=f"hmi {__version__}")
    _common(parser, top=True)
    _run_options(parser, top=True)
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run the station (the touchscreen when a display is available)")
    _common(run)
    _run_options(run)

    ui_bench = sub.add_parser("ui-bench", help="live-view refresh rate and event-loop latency with the line at full speed")
    _common(ui_bench)
    ui_bench.add_argument("--seconds", type=float, default=10.0)

    ins = sub.add_parser("inspect", help="judge image files with a model and write a CSV")
    _common(ins)
    ins.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    ins.add_argument("--model", type=Path, required=True, help="model folder (manifest.json + model.onnx)")
    ins.add_argument("--csv", type=Path, required=True, help="output CSV file")
    ins.add_argument("--maps", type=Path, default=None, metavar="DIR",
                     help="also write each image's anomaly map at the image's own size (float32 .npy per image, "
                          "in the images' folders under their common folder: good/a.png -> DIR/good/a.npy)")

    teach = sub.add_parser("teach", help="build an anomaly model from images of good parts")
    _common(teach)
    teach.add_argument("--good", type=Path, required=True, help="folder of good-part images")
    teach.add_argument("--out", type=Path, required=True, help="model folder to create")
    teach.add_argument("--name", default="", help="model name (default: the folder name)")
    teach.add_argument("--input-size", type=int, default=256, metavar="PIXELS",
                       help="teach size: the images' shorter side is scaled to this (never enlarged); frames keep "
                            "their aspect ratio and larger ones are judged in tiles")
    teach.add_argument("--coreset", type=float, default=0.01, help="share of patch features kept in the memory bank")
    teach.add_argument("--augment", action="store_true",
                       help="also teach turned and mirrored views: for parts that arrive in any orientation")
    teach.add_argument("--false-reject", type=float, default=None, metavar="SHARE",
                       help="share of good parts the default threshold may reject (default: the recipe's, 0.01)")
    teach.add_argument("--hold-share", type=float, default=None, metavar="SHARE",
                       help="share of good parts the HOLD band may send to review (default: the recipe's, 0.05)")
    teach.add_argument("--recipe", default=None, help="take the targets from this recipe (default: none, 1 %% / 5 %%)")

    ev = sub.add_parser("evaluate", help="teach and judge a data set folder (train/good, test/good, test/defect): "
                                         "AUROC, recall, rates at the default thresholds; or score an inspect CSV")
    _common(ev)
    ev.add_argument("dataset", nargs="?", type=Path, default=None,
                    help="data set folder: train/good, test/good, test/defect, optional test/mask")
    ev.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ev.add_argument("--work", type=Path, default=None, help="where the taught model is kept (default: a temporary folder)")
    ev.add_argument("--teach-size", type=int, default=256, help="teach size passed to the station's teach")
    ev.add_argument("--augment", action="store_true", help="teach with turned and mirrored views")
    ev.add_argument("--csv", type=Path, default=None, help="instead: a CSV written by 'hmi inspect' ...")
    ev.add_argument("--truth", type=Path, default=None, help="... and its ground_truth.csv (file,label)")

    from hmi.admin_cli import add_parsers

    add_parsers(sub, _common)
    from hmi.model_cli import add_parsers as add_model_parsers

    add_model_parsers(sub, _common)
    from hmi.report_cli import add_parsers as add_report_parsers

    add_report_parsers(sub, _common)
    from hmi.dataset_cli import add_parsers as add_dataset_parsers

    add_dataset_parsers(sub, _common)
    from hmi.thresholds_cli import add_parsers as add_thresholds_parsers

    add_thresholds_parsers(sub, _common)

    bench = sub.add_parser("bench", help="measure the pipeline against the model alone")
    _common(bench)
    bench.add_argument("--frames", type=int, default=300, help="parts to run through the pipeline")
    bench.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    bench.add_argument("--rounds", type=int, default=3, help="interleaved runs of each kind (means are reported)")
    bench.add_argument("--core-only", action="store_true", help="skip the run with records and PLC")
    bench.add_argument("--frame-size", type=_frame_size, default=None, metavar="WxH",
                       help="render demo parts at this size (e.g. 2448x2048) and judge them as overlapping tiles")
    return parser


def _frame_size(text: str) -> tuple[int, int]:
    """argparse type of `--frame-size` (the bench's own parser, imported only when the option is given)."""
    from hmi.bench import parse_frame_size

    return parse_frame_size(text)


def _data_dir(args: argparse.Namespace) -> Path:
    return (args.data_dir or default_data_dir()).expanduser().resolve()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `hmi` console script; every StationError ends in one plain message."""
    multiprocessing.freeze_support()  # the frozen station's teaching process starts here (hmi.changes.teach_process)
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    from hmi.config.loader import load_station
    from hmi.logs import EXIT_CRASHED, close_logging, install_crash_handler, setup_logging

    data_dir = _data_dir(args)
    # HMI_LOG sets the log file's level (default INFO); the console shows warnings and errors only.
    setup_logging(data_dir, file_level=os.environ.get("HMI_LOG", "INFO"))
    # The main thread's own errors are caught below; the hooks see other threads and Qt slots, which survive them.
    crash = install_crash_handler(data_dir, lambda: load_station(data_dir, args.overrides).model_dump(mode="json"),
                                  exit_after_main_crash=False)
    log.info("hmi %s: %s, data directory %s", __version__, command, data_dir)
    try:
        if command == "run":
            return cmd_run(args)
        if command == "ui-bench":
            return cmd_ui_bench(args)
        if command == "inspect":
            return cmd_inspect(args)
        if command == "teach":
            return cmd_teach(args)
        if command == "bench":
            return cmd_bench(args)
        if command in ("plc", "audit", "db", "users"):
            from hmi.admin_cli import run

            return run(command, args, _data_dir(args))
        if command == "model":
            from hmi.model_cli import run as run_model

            return run_model(command, args, _data_dir(args))
        if command in ("report", "report-bench"):
            from hmi.report_cli import run as run_report

            return run_report(command, args, _data_dir(args))
        if command == "dataset":
            from hmi.dataset_cli import run as run_dataset

            return run_dataset(command, args, _data_dir(args))
        if command == "thresholds":
            from hmi.thresholds_cli import run as run_thresholds

            return run_thresholds(command, args, _data_dir(args))
        if command == "evaluate":
            return cmd_evaluate(args)
    except StationError as exc:
        log.error("%s: %s", command, exc, extra={"file_only": True})
        print(f"hmi: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an error nobody expected: crash report, fault to the PLC, non-zero exit
        crash.report(type(exc), exc, exc.__traceback__, threading.current_thread().name)
        return EXIT_CRASHED
    finally:
        crash.uninstall()
        close_logging()
    parser.error(f"unknown command {command}")
    return 2


def display_available() -> bool:
    """True when a window can be shown (X11/Wayland, or a Qt platform chosen explicitly)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
                or sys.platform in ("win32", "darwin"))


def configured_station(args: argparse.Namespace, extra: list[str] | None = None, max_parts: int = 0):
    """The station the data folder's config (with `extra` and --set overrides) describes, not started."""
    from hmi.config.loader import load_station
    from hmi.station import build_station

    data_dir = _data_dir(args)
    return build_station(load_station(data_dir, [*(extra or []), *args.overrides]), data_dir, max_parts=max_parts)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the live station: the touchscreen when a display is available, else headless with a status line."""
    if not args.headless and display_available():
        return cmd_ui(args)
    if not args.headless:
        print("hmi: no display found; running headless with a status line", file=sys.stderr)
    station = configured_station(args, max_parts=args.max_parts)
    if station.users is not None and station.users.needs_first_admin():
        print("hmi: this station has no admin yet — create one with 'hmi users add NAME --role admin'",
              file=sys.stderr)
    stop = threading.Event()
    if args.quit_after:
        threading.Timer(args.quit_after, stop.set).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    station.start()
    tty = sys.stdout.isatty()
    try:
        last = 0.0
        while not stop.is_set():
            if args.max_parts and station.capture.done.is_set():
                station.wait_done(timeout_s=10)
                break
            if station.supervisor.failed():
                break
            now = time.monotonic()
            if now - last >= (0.5 if tty else 2.0):
                last = now
                print(status_line(station), end="\r" if tty else "\n", flush=True)
            stop.wait(0.05)
    except KeyboardInterrupt:
        pass
    except Exception:
        station.signal_fault()  # before stop() writes "stopped": the PLC must see the crash
        raise
    finally:
        station.stop()
    print(status_line(station), flush=True)
    failed = station.supervisor.failed()
    for h in failed:
        print(f"hmi: {h.role}: {h.error}", file=sys.stderr)
    return 1 if failed else 0


def cmd_ui(args: argparse.Namespace) -> int:
    """The touchscreen over the running station."""
    from hmi.ui.shell import run_station_ui

    station = configured_station(args)
    station.start()
    try:
        return run_station_ui(station, fullscreen=args.fullscreen or station.cfg.ui.fullscreen,
                              quit_after_s=args.quit_after or 0.0, screenshot_dir=args.screenshot)
    except Exception:
        station.signal_fault()
        raise
    finally:
        station.stop()


def cmd_ui_bench(args: argparse.Namespace) -> int:
    """Measure the live view with the line at full speed; prints the figures."""
    if not display_available():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from hmi.ui.bench import figures_text, measure_ui

    station = configured_station(args, extra=["camera.rate_hz=0"])
    station.start()
    try:
        figures = measure_ui(station, args.seconds)
    finally:
        station.stop()
    print(figures_text(figures))
    return 0


def status_line(station) -> str:
    """One line: parts/s, latency, counts per verdict, and the most urgent alarm."""
    st = station.status()
    c = st.counts
    alarm = next((a for a in st.alarms if a.active), None)
    lat = st.verdicts
    text = (f"{st.recipe} | {lat.fps:5.1f} parts/s | latency p50 {lat.latency_p50_ms:6.1f} ms p99 {lat.latency_p99_ms:6.1f} ms | "
            f"OK {c.ok} NG {c.ng} HOLD {c.hold} NOT_INSPECTED {c.not_inspected} | yield {c.yield_pct:5.1f}% | {st.backend}")
    if alarm:
        text += f" | ALARM {alarm.code}: {alarm.message}"
    return text


def _image_paths(paths: list[Path]) -> list[Path]:
    exts = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"}
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in exts))
        else:
            out.append(p)
    return out


def cmd_inspect(args: argparse.Namespace) -> int:
    """Batch-judge images: one CSV row per image (path, score, verdict, reason, regions, latency_ms)."""
    import csv
    import json

    from hmi.config.loader import load_station
    from hmi.core.errors import ImageError
    from hmi.decision.policy import ThresholdSet, decide
    from hmi.inference.inspector import Inspector, read_image
    from hmi.inference.package import ModelPackage

    data_dir = _data_dir(args)
    cfg = load_station(data_dir, args.overrides)
    package = ModelPackage.load(args.model)
    t = package.manifest.thresholds
    thresholds = ThresholdSet(0, t.score, t.hold_below, t.hold_above, t.min_defect_area_px)
    inspector = Inspector(package, provider=cfg.inference.provider, threads=cfg.inference.threads,
                          engine_cache=data_dir / "engines", tile=cfg.inference.tile)
    inspector.warm_up(cfg.inference.warmup_runs)
    paths = _image_paths(args.paths)
    if not paths:
        raise StationError("no image files found in " + ", ".join(map(str, args.paths)), "check the paths")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    maps_root = Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))
    counts: dict[str, int] = {}
    unreadable = 0
    with args.csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "score", "verdict", "reason", "regions", "latency_ms", "backend", "model_sha256"])
        for p in paths:
            t0 = time.perf_counter()
            try:
                frame = read_image(p)
                ins = inspector.inspect(frame)
            except ImageError as exc:
                unreadable += 1
                verdict, reason = decide(None, thresholds, failure=str(exc))
                w.writerow([str(p), "", verdict.name, reason, "[]", f"{(time.perf_counter() - t0) * 1000:.2f}",
                            inspector.backend, package.sha256])
                print(f"hmi: {exc}", file=sys.stderr)
                counts[verdict.name] = counts.get(verdict.name, 0) + 1
                continue
            verdict, reason = decide(ins, thresholds)
            if args.maps is not None:
                _save_map(args.maps / p.resolve().relative_to(maps_root).with_suffix(".npy"),
                          inspector.frame_map(ins, frame.shape[:2]))
            regions = [{"x": r.x, "y": r.y, "w": r.w, "h": r.h, "area_px": r.area_px,
                        "peak": round(r.peak_score, 4), "label": r.label, "confidence": r.confidence}
                       for r in ins.regions]
            w.writerow([str(p), f"{ins.score:.6f}", verdict.name, reason, json.dumps(regions),
                        f"{(time.perf_counter() - t0) * 1000:.2f}", ins.backend, package.sha256])
            counts[verdict.name] = counts.get(verdict.name, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{len(paths)} images judged with '{package.manifest.name}' on {inspector.backend}: {summary}; CSV: {args.csv}")
    if unreadable:
        print(f"{unreadable} images could not be read and are NOT_INSPECTED in the CSV", file=sys.stderr)
    return 0


def _save_map(target: Path, frame_map: object) -> None:
    """Write one image's frame-size anomaly map (a NumPy array) to `target` (.npy), making its folder."""
    import numpy as np

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, frame_map)
    except OSError as exc:
        raise StationError(f"cannot write the anomaly map {target} ({exc.strerror or exc})",
                           "choose a writable folder with free space for --maps") from None


def _teach_targets(args: argparse.Namespace) -> "JudgingTargets":
    """The default thresholds' targets: the named recipe's, then any given on the command line."""
    from hmi.config.loader import load_recipe
    from hmi.config.schema import JudgingTargets

    targets = load_recipe(_data_dir(args), args.recipe).targets if args.recipe else JudgingTargets()
    given = {k: v for k, v in (("false_reject", args.false_reject), ("hold_share", args.hold_share)) if v is not None}
    try:
        return JudgingTargets.model_validate({**targets.model_dump(), **given})
    except ValueError:
        said = ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in given.items())
        raise StationError(f"{said} is out of range for the default thresholds",
                           "give --false-reject between 0 and 0.5 (e.g. 0.01) and --hold-share between 0 and 0.5 "
                           "(e.g. 0.05)") from None


def cmd_teach(args: argparse.Namespace) -> int:
    """Teach an anomaly model from good images, with a progress line."""
    from hmi.inference.teach import teach

    good = args.good
    if not good.is_dir():
        raise StationError(f"folder {good} does not exist", "give the folder of good-part images with --good")
    paths = _image_paths([good])
    tty = sys.stderr.isatty()
    last = [0.0, ""]

    def progress(stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] > (0.2 if tty else 3.0) or fraction >= 1.0:
            last[0], last[1] = now, stage
            print(f"  {stage}: {fraction * 100:5.1f}%", end="\r" if tty else "\n", file=sys.stderr, flush=True)

    targets = _teach_targets(args)
    report = teach(paths, args.out, name=args.name or args.out.name, input_size=args.input_size,
                   coreset_ratio=args.coreset, progress=progress, augment=args.augment,
                   false_reject=targets.false_reject, hold_share=targets.hold_share)
    if tty:
        print(file=sys.stderr)
    print(report.summary())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a data set folder with the station's own teach and inspection (or an inspect CSV)."""
    import tempfile

    from hmi.inference.evaluation import evaluate, evaluate_dataset

    if args.dataset is None:
        if args.csv is None or args.truth is None:
            raise StationError("nothing to evaluate", "give a data set folder, or --csv with --truth")
        print(evaluate(args.csv, args.truth).text())
        return 0
    with tempfile.TemporaryDirectory(prefix="hmi-evaluate-") as tmp:
        work = args.work or Path(tmp)
        result = evaluate_dataset(args.dataset, work, teach_size=args.teach_size, augment=args.augment,
                                  progress=lambda text: print(f"  {text}", file=sys.stderr))
    print(result.text())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.to_json(), encoding="utf-8")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Full pipeline vs model alone on the same frames; prints and writes the figures."""
    from hmi.bench import run_bench

    result = run_bench(_data_dir(args), args.overrides, frames=args.frames, with_outputs=not args.core_only,
                       rounds=args.rounds, frame_size=args.frame_size)
    text = result.to_text()
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.to_json(), encoding="utf-8")
    return 0
