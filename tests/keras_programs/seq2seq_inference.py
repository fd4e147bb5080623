"""Character-level seq2seq (the Keras lstm_seq2seq example, synthetic data): train, then build
the encoder and decoder inference models from model.input and layer.output, and decode greedily."""
import numpy as np
import keras

num_tokens, latent_dim, n = 6, 8, 32
rng = np.random.default_rng(6)
src = rng.integers(1, num_tokens, size=(n, 5))
encoder_input_data = np.eye(num_tokens, dtype="float32")[src]
decoder_target_data = np.eye(num_tokens, dtype="float32")[src[:, ::-1]]
decoder_input_data = np.concatenate([np.zeros((n, 1, num_tokens), "float32"), decoder_target_data[:, :-1]], 1)

encoder_inputs = keras.Input(shape=(None, num_tokens))
encoder = keras.layers.LSTM(latent_dim, return_state=True)
encoder_outputs, state_h, state_c = encoder(encoder_inputs)
encoder_states = [state_h, state_c]
decoder_inputs = keras.Input(shape=(None, num_tokens))
decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
decoder_dense = keras.layers.Dense(num_tokens, activation="softmax")
decoder_outputs = decoder_dense(decoder_outputs)
model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
history = model.fit([encoder_input_data, decoder_input_data], decoder_target_data, batch_size=8, epochs=3,
                    shuffle=False, verbose=0)

encoder_inputs = model.input[0]
encoder_outputs, state_h_enc, state_c_enc = model.layers[2].output
encoder_model = keras.Model(encoder_inputs, [state_h_enc, state_c_enc])
decoder_inputs = model.input[1]
decoder_state_input_h = keras.Input(shape=(latent_dim,))
decoder_state_input_c = keras.Input(shape=(latent_dim,))
decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
decoder_lstm = model.layers[3]
decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
decoder_outputs = model.layers[4](decoder_outputs)
decoder_model = keras.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs, state_h_dec, state_c_dec])

states = encoder_model.predict(encoder_input_data[:2], verbose=0)
target = np.zeros((2, 1, num_tokens), "float32")
decoded = []
for _ in range(5):
    probs, h, c = decoder_model.predict([target] + list(states), verbose=0)
    token = np.asarray(probs)[:, -1].argmax(-1)
    decoded.append(np.asarray(probs)[:, -1])
    target = np.eye(num_tokens, dtype="float32")[token][:, None]
    states = [h, c]
RESULT = {"loss": history.history["loss"], "decoded": np.stack(decoded)}
