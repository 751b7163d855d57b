"""Reject signalling to the Siemens PLC over S7 (the only package that imports snap7).

Entry points: `hmi.plc.factory` (create_signaller, start_simulated_plc), `hmi.plc.linktest`
(link_test), `hmi.plc.layout` (the interface DB, pure). See docs/plc_interface.md.
"""
