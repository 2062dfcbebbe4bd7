"""The device as a service: ``emotion-edge run`` and ``models fetch``, the loop's runner (build
everything from the configuration, run, always release), systemd's notify protocol and signals."""
