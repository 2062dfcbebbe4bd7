"""Several cameras in one process (#24): what the cameras of a device share (one classifier, its
faces batched across cameras) and how their loops run side by side."""
