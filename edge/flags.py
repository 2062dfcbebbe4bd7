"""What the flags several subcommands share mean, written once: a flag name means one thing in every
subcommand (tests/test_cli_flags.py walks every parser to keep it so).

A command's help for such a flag is the text here, optionally followed by one parenthesis of its own
(its default, or what it does with the value). Plain strings only: every ``cli`` module imports this
at the top, before ``--help``.
"""

from __future__ import annotations

from edge import paths

MODEL_HELP = "the emotion model, an ONNX file, instead of model.path"
DETECTOR_HELP = "the YuNet face detector's ONNX file, instead of detector.model"
SOURCE_HELP = "the source, instead of source.uri: /dev/videoN or N, csi://N, rtsp://..., a video file, a folder"
FRAMES_HELP = "frames to process"
WARMUP_HELP = "frames run before measuring"
THREADS_HELP = "ONNX Runtime's intra-op threads, 0: all cores"
CACHE_DIR_HELP = "where generated clips are kept (default ~/.cache/emotion-edge)"
HOST_HELP = "the MQTT broker's host"
PORT_HELP = "the MQTT broker's port"
TIMEOUT_HELP = "seconds to wait for the broker"
DEVICE_ID_HELP = "the device's id, as in its topics"
WEB_HELP = "serve the live view in the browser"
WILD_HELP = "a folder of photos of real faces"
DATA_HELP = "fer2013.csv, an image-folder tree or a .tar.gz/.zip of one"
DATA_DEFAULT = f"default {paths.DEV_DATA}"
VOTES_HELP = "FER+'s fer2013new.csv"
SEED_HELP = "seed"
MODEL_VERSION_HELP = "the model's version, written into its metadata (and published with every message)"
SKIP_BAD_HELP = "skip unreadable images and bad CSV rows (counted)"
# The release rules by name (``evaluate --rule NAME``, ``export release --rule NAME``; train.release_rule).
RULES = {
    "default": "the release rule of issue #21",
    "small": "the small model's release rule (models/README.md)",
}
RULE_NAMES = tuple(RULES)
RULE_HELP = (
    "the release rule (models/README.md): default, issue #21's, or small, the half-width model's (the "
    "default's floors reported, not gated); no name: default"
)
