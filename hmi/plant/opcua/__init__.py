"""The station's OPC UA server, shaped after OPC 40100's Simple Inline Vision System (docs/opcua.md)."""

from hmi.plant.opcua.server import OpcuaServer

__all__ = ["OpcuaServer"]
