#!/usr/bin/env python3
"""Write the systemd drop-in that allows this Jetson's GPU device nodes, by path.

Run by systemd/install.sh from the checkout (stdlib only):
    python3 systemd/jetson_devices.py --out /etc/systemd/system/emotion-edge.service.d/jetson-gpu.conf
The logic, and why paths and not char-NAME groups, is in edge/service/devices.py.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.service.devices import main

if __name__ == "__main__":
    sys.exit(main())
