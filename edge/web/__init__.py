"""The live view: an opt-in web page that shows what the device sees (stream, faces, health, timeline)."""
