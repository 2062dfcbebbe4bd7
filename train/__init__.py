"""The workstation's training room: FER2013 loaders, the CNN, training and its checkpoint format
(``checkpoint``), evaluation and run selection. Imports ``edge`` (the shared contract), never ``export``."""
