"""Training, evaluation and inference: the public calls (api), the one training plan every path builds (plan),
the Java loop and its listener (loop), callbacks, checked data (prepared), streams, augmentation, Spark
(bridge.spark builds on it), DL4J's training UI (ui) and plots."""
