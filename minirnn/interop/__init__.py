"""Other frameworks' files: Keras models (``keras_files``) and PyTorch recurrent weights
(``torch_weights``).  Both need the ``files`` extra (h5py, safetensors); neither needs
TensorFlow, Keras or PyTorch to read a file."""
