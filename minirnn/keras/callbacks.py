"""``keras.callbacks``.  Same as Keras, except for the smaller set (no TensorBoard, CSVLogger,
BackupAndRestore, LambdaCallback)."""
from ..callbacks import (Callback, CallbackList, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint,
                         ProgbarLogger, ReduceLROnPlateau, TerminateOnNaN)

__all__ = ["Callback", "CallbackList", "History", "LearningRateScheduler", "ProgbarLogger", "EarlyStopping",
           "ReduceLROnPlateau", "TerminateOnNaN", "ModelCheckpoint"]
