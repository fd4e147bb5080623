"""Other frameworks' files, by their former names: the code lives in :mod:`minirnn.saving`
(``keras_files``, ``keras_config``, ``keras_weights``, ``torch_weights``).  Both need the
``files`` extra (h5py, safetensors); neither needs TensorFlow, Keras or PyTorch to read a file."""
