"""On-device runtime of emotion-edge: sources, detection, alignment, classification, MQTT.

Nothing in this package imports torch, train or export: the device needs none of them.
"""

__version__ = "0.1.0"
