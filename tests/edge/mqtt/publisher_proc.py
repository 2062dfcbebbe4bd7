"""A real publisher process for the availability tests: it feeds synthetic frames through
MqttPublisher like the frame loop would, and on SIGTERM closes it the way the loop does.

    python -m tests.edge.mqtt.publisher_proc '<[mqtt] table as JSON>'

Prints ``connected`` once connected, ``fed N`` for the last frame fed before closing, and
``closed`` when ``close()`` has returned.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time

from edge.mqtt.client.publisher import MqttPublisher
from edge.mqtt.config import MqttConfig
from tests.edge.mqtt.clients import CLASSES, face, frame


def main() -> int:
    config = MqttConfig.from_dict(json.loads(sys.argv[1]))
    publisher = MqttPublisher(config, "test-model", "1.2.3", "onnxruntime", CLASSES)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    publisher.start()
    said_connected = False
    index = 0
    while not stop.is_set():
        index += 1
        publisher.handle_frame(frame(index, face(1, "happy" if (index // 20) % 2 else "sad")))
        if publisher.connected and not said_connected:
            print("connected", flush=True)
            said_connected = True
        time.sleep(0.02)
    print(f"fed {index}", flush=True)
    publisher.close()
    print("closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
