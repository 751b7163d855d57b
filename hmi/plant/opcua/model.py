"""The address space, shaped after OPC 40100-1: VisionSystem, its state machine, result management, ResultReady.

asyncua does not ship the Machine Vision nodeset, so the shape is built here under the station's own
namespace (NAMESPACE) with the specification's browse names; docs/opcua.md lists what is covered.
NodeIds are strings that follow the browse path ("VisionSystem.VisionStateMachine.CurrentState"), so a
SCADA tag list stays valid across versions and restarts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from asyncua import Server, ua
from asyncua.common.node import Node

from hmi import __version__
from hmi.config.schema import StationConfig
from hmi.pipeline.outputs import StationState
from hmi.plant.opcua.results import VisionResult

NAMESPACE = "http://hmi-inspection-station/UA/MachineVision/"

# OPC 40100-1 8.2.6: the VisionStateMachine's states and their StateNumbers.
STATE_NUMBERS = {StationState.PREOPERATIONAL: 1, StationState.HALTED: 2, StationState.ERROR: 3,
                 StationState.OPERATIONAL: 4}

V = ua.VariantType


@dataclass(frozen=True)
class ResultField:
    """One field of a result, the same in the ResultReady event and in each result of the result management."""

    name: str
    kind: ua.VariantType
    value: Callable[[VisionResult], object]


RESULT_FIELDS: tuple[ResultField, ...] = (
    ResultField("ResultId", V.String, lambda r: r.result_id),
    ResultField("IsPartial", V.Boolean, lambda r: r.is_partial),
    ResultField("IsSimulated", V.Boolean, lambda r: r.is_simulated),
    ResultField("ResultState", V.Int32, lambda r: r.result_state),
    ResultField("InternalRecipeId", V.String, lambda r: r.recipe),
    ResultField("PartId", V.String, lambda r: r.part_id),
    ResultField("CreationTime", V.DateTime, lambda r: r.creation_time),
    ResultField("CaptureTime", V.DateTime, lambda r: r.capture_time),
    ResultField("Verdict", V.String, lambda r: r.verdict),
    ResultField("VerdictCode", V.Int32, lambda r: r.verdict_code),
    ResultField("Score", V.Double, lambda r: r.score),
    ResultField("ThresholdVersion", V.Int32, lambda r: r.threshold_version),
    ResultField("ModelName", V.String, lambda r: r.model_name),
    ResultField("ModelSha256", V.String, lambda r: r.model_sha256),
    ResultField("DefectCode", V.Int32, lambda r: r.defect_code),
    ResultField("Reason", V.String, lambda r: r.reason),
    ResultField("AutoVerdict", V.String, lambda r: r.auto_verdict),
    ResultField("ReviewedBy", V.String, lambda r: r.reviewed_by),
    ResultField("ReviewedAutomatically", V.Boolean, lambda r: r.reviewed_automatically),
)

_EMPTY = {V.String: "", V.Boolean: False, V.Int32: 0, V.Double: math.nan, V.DateTime: datetime(1601, 1, 1)}

SEVERITY_OK = 100      # OK and HOLD parts
SEVERITY_REJECT = 500  # NG and NOT_INSPECTED parts


class VisionSystemSpace:
    """The station's nodes in a started-to-be asyncua Server; `show_state` and `publish` keep them current.

    Built with `await VisionSystemSpace.build(server, cfg, kept)` before the server starts; used only on
    the server's event loop.
    """

    def __init__(self, server: Server, idx: int, kept: int) -> None:
        self._server = server
        self._idx = idx
        self._kept = kept
        self._width = len(str(kept - 1))
        self._slots: dict[int, int] = {}  # slot -> the ResultId (seq) it holds
        self._states: dict[StationState, ua.NodeId] = {}
        self._shown: StationState | None = None
        self.vision_system: Node
        self._results: Node
        self._events: list = []  # one event generator per notifier (VisionSystem, Server)
        self.published = 0

    # --- building -------------------------------------------------------------------------------
    @classmethod
    async def build(cls, server: Server, cfg: StationConfig, kept: int) -> VisionSystemSpace:
        """Add the types and the VisionSystem object to `server` (initialised, not started)."""
        idx = await server.register_namespace(NAMESPACE)
        space = cls(server, idx, kept)
        await space._build(cfg)
        return space

    def _id(self, path: str) -> ua.NodeId:
        return ua.NodeId(path, self._idx)

    def _name(self, name: str) -> ua.QualifiedName:
        return ua.QualifiedName(name, self._idx)

    async def _build(self, cfg: StationConfig) -> None:
        server = self._server
        types = await self._types()
        vs = await server.nodes.objects.add_object(self._id("VisionSystem"), self._name("VisionSystem"),
                                                   objecttype=types["VisionSystemType"])
        self.vision_system = vs
        await self._state_machine(vs, types["VisionStateMachineType"])
        management = await vs.add_object(self._id("VisionSystem.ResultManagement"), self._name("ResultManagement"),
                                         objecttype=types["ResultManagementType"])
        self._results = await management.add_object(self._id("VisionSystem.ResultManagement.Results"),
                                                    self._name("Results"), objecttype=types["ResultFolderType"])
        station = await vs.add_object(self._id("VisionSystem.Station"), self._name("Station"))
        for name, value, kind in (("Name", cfg.station.name, V.String), ("Line", cfg.station.line, V.String),
                                  ("Software", f"hmi-inspection-station {__version__}", V.String),
                                  ("ResultsPublished", 0, V.UInt64), ("ResultsRefused", 0, V.UInt64)):
            await station.add_variable(self._id(f"VisionSystem.Station.{name}"), self._name(name), value,
                                       varianttype=kind)
        # Events of the VisionSystem reach clients subscribed to it and to the Server object (UaExpert's event view).
        await server.nodes.server.add_reference(vs.nodeid, ua.ObjectIds.HasNotifier)
        for notifier in (vs, server.nodes.server):
            generator = await server.get_event_generator(types["ResultReadyEventType"], notifier)
            generator.event.SourceNode = vs.nodeid
            generator.event.SourceName = "VisionSystem"
            self._events.append(generator)
        await self.show_state(StationState.PREOPERATIONAL)

    async def _types(self) -> dict[str, ua.NodeId]:
        """The ObjectTypes (empty shells: the instances carry their own children) and the ResultReady event type."""
        server, made = self._server, {}
        for name, base in (("VisionSystemType", ua.ObjectIds.BaseObjectType),
                           ("VisionStateMachineType", ua.ObjectIds.FiniteStateMachineType),
                           ("ResultManagementType", ua.ObjectIds.BaseObjectType),
                           ("ResultFolderType", ua.ObjectIds.FolderType)):
            node = await server.get_node(ua.NodeId(base)).add_object_type(self._id(name), self._name(name))
            made[name] = node.nodeid
        event = await server.get_node(ua.NodeId(ua.ObjectIds.BaseEventType)).add_object_type(
            self._id("ResultReadyEventType"), self._name("ResultReadyEventType"))
        for f in RESULT_FIELDS:
            await event.add_property(self._id(f"ResultReadyEventType.{f.name}"), self._name(f.name),
                                     _EMPTY[f.kind], varianttype=f.kind)
        made["ResultReadyEventType"] = event.nodeid
        return made

    async def _state_machine(self, vs: Node, machine_type: ua.NodeId) -> None:
        machine = await vs.add_object(self._id("VisionSystem.VisionStateMachine"), self._name("VisionStateMachine"),
                                      objecttype=machine_type)
        # Transitions are not modelled (no TransitionNumbers to give): their optional variables go.
        for optional in ("LastTransition", "AvailableTransitions"):
            await self._server.delete_nodes([self._server.get_node(self._id(f"VisionSystem.VisionStateMachine."
                                                                             f"{optional}"))], recursive=True)
        for state, number in STATE_NUMBERS.items():
            node = await machine.add_object(self._id(f"VisionSystem.VisionStateMachine.{state.value}"),
                                            self._name(state.value), objecttype=ua.ObjectIds.StateType)
            number_node = await node.get_child("0:StateNumber")
            await number_node.write_value(ua.Variant(number, V.UInt32))
            self._states[state] = node.nodeid
        await self._server.get_node(self._id("VisionSystem.VisionStateMachine.AvailableStates")).write_value(
            ua.Variant(list(self._states.values()), V.NodeId))
        current = self._server.get_node(self._id("VisionSystem.VisionStateMachine.CurrentState"))
        await current.add_property(self._id("VisionSystem.VisionStateMachine.CurrentState.Number"),
                                   ua.QualifiedName("Number", 0), ua.Variant(0, V.UInt32))

    # --- keeping it current ---------------------------------------------------------------------
    async def show_state(self, state: StationState) -> None:
        """Show the station's state in VisionStateMachine.CurrentState (its text, Id and Number)."""
        if state is self._shown:
            return
        self._shown = state
        base = "VisionSystem.VisionStateMachine.CurrentState"
        write = self._server.write_attribute_value
        await write(self._id(f"{base}.Id"), ua.DataValue(ua.Variant(self._states[state], V.NodeId)))
        await write(self._id(f"{base}.Number"), ua.DataValue(ua.Variant(STATE_NUMBERS[state], V.UInt32)))
        await write(self._id(base), ua.DataValue(ua.Variant(ua.LocalizedText(state.value), V.LocalizedText)))

    async def publish(self, result: VisionResult) -> None:
        """Keep `result` in its result slot (ResultId mod kept) and fire ResultReady."""
        await self._keep(result)
        await self._fire(result)

    async def publish_final(self, result: VisionResult) -> None:
        """A HOLD part's final result: its slot shows it where it still holds that ResultId; ResultReady fires."""
        if self._slots.get(result.seq % self._kept) == result.seq:
            await self._keep(result)
        await self._fire(result)

    async def _fire(self, result: VisionResult) -> None:
        severity = SEVERITY_REJECT if result.verdict in ("NG", "NOT_INSPECTED") else SEVERITY_OK
        for generator in self._events:
            event = generator.event
            for f in RESULT_FIELDS:
                setattr(event, f.name, f.value(result))
            event.Severity = severity
            await generator.trigger(time_attr=result.creation_time, message=result.message)
        self.published += 1

    async def show_counts(self, refused: int) -> None:
        """Show how many results were published and how many the station's queue refused (the server fell behind)."""
        for name, count in (("ResultsPublished", self.published), ("ResultsRefused", refused)):
            await self._server.write_attribute_value(self._id(f"VisionSystem.Station.{name}"),
                                                     ua.DataValue(ua.Variant(count, V.UInt64)))

    async def _keep(self, result: VisionResult) -> None:
        slot = result.seq % self._kept
        path = f"VisionSystem.ResultManagement.Results.Result_{slot:0{self._width}d}"
        if slot not in self._slots:  # slots are made as the first results arrive
            await self._make_slot(path)
        self._slots[slot] = result.seq
        write = self._server.write_attribute_value
        for f in RESULT_FIELDS:
            await write(self._id(f"{path}.{f.name}"), ua.DataValue(ua.Variant(f.value(result), f.kind)))
        await write(self._id(path), ua.DataValue(ua.Variant(result.result_id, V.String)))
        await write(self._id(path), ua.DataValue(ua.Variant(ua.LocalizedText(f"Result {result.result_id}"),
                                                            V.LocalizedText)), ua.AttributeIds.DisplayName)

    async def _make_slot(self, path: str) -> None:
        name = path.rsplit(".", 1)[1]
        slot = await self._results.add_variable(self._id(path), self._name(name), "", varianttype=V.String)
        for f in RESULT_FIELDS:
            await slot.add_variable(self._id(f"{path}.{f.name}"), self._name(f.name), _EMPTY[f.kind],
                                    varianttype=f.kind)
