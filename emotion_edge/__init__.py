"""The ``emotion-edge`` command: the one place that wires ``edge``, ``train`` and ``export`` together."""
