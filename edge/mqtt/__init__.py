"""Publishing results over MQTT, and the subscriber's side of it.

The contract (topics, payloads, retained and last-will behaviour, Home Assistant discovery) is
written down in docs/mqtt.md and checked by the JSON Schemas in edge/schemas. Modules, one job each:

- ``config``      the ``[mqtt]`` table, validated in one place
- ``topics``      topic names built from base and device id
- ``payloads``    the JSON payloads, schema version 1
- ``policy``      when to publish: faces rate limits, the main face's emotion, stats interval
- ``outbox``      the bounded queue between the frame loop and the network
- ``discovery``   Home Assistant discovery configs
- ``client``      the connection (``link``) and the frame loop's sink (``publisher``)
- ``watch``       the subscriber's live view; ``cli`` registers it as ``emotion-edge watch``

Importing this package imports nothing heavy; paho is imported by the client modules only.
"""
