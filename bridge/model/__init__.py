"""Networks as objects: the Network wrapper and what kind of DL4J network an object is (kinds, network), the
builders and their layer specs (nets, layers, graphs), input layouts (inputs), model files (modelfile), transfer
learning (transfer) and learning-rate schedules (schedules). Sits on bridge.jvm; knows nothing of training."""
