"""The developer's tools around the device loop: ``demo``, ``bench``, ``bench-model`` and ``soak``,
with the clips they play and the throwaway MQTT broker they start; nothing here runs on a device."""
