"""The MQTT client: the connection thread (``link``) and the frame loop's sink (``publisher``)."""
