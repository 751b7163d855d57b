"""The plant's view of this station: records replicated to PostgreSQL, OPC UA results and MQTT messages."""

from __future__ import annotations

from hmi.config.schema import StationConfig
from hmi.pipeline.outputs import OutputFactory


def configured_outputs(cfg: StationConfig) -> list[OutputFactory]:
    """The outputs station.toml asks for, in start order; their libraries are imported only when configured."""
    factories: list[OutputFactory] = []
    if cfg.plant.database:
        from hmi.plant.replication import PlantReplication

        factories.append(PlantReplication)
    if cfg.opcua.enabled:
        from hmi.plant.opcua import OpcuaServer

        factories.append(OpcuaServer)
    if cfg.mqtt.url:
        from hmi.plant.mqtt import MqttResults

        factories.append(MqttResults)
    return factories
