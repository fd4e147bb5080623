"""Next-item prediction from browsing sessions: product codes mapped by StringLookup and user ids by
IntegerLookup (adapted on the data), a GRU over the session's embeddings joined with the user's
embedding, and a Softmax layer; top-k accuracy as the metric.  (SGD: with Adam or RMSprop, Keras's
TensorFlow backend updates Embedding rows met several times in a batch from the squares of each
occurrence's gradient, not of their sum, so the two runs would part by design.)"""
import numpy as np

import keras
from keras import layers

rng = np.random.default_rng(4)
products = np.array([f"P{k:03d}" for k in range(15)])
users = np.array([101, 205, 333, 407, 512, 666])
n, length = 96, 6
sessions = rng.choice(products, size=(n, length))
user_ids = rng.choice(users, size=n)
following = np.array([products[(int(s[-1][1:]) + 1) % 15] for s in sessions])     # the next code

product_lookup = layers.StringLookup()
product_lookup.adapt(sessions)
user_lookup = layers.IntegerLookup()
user_lookup.adapt(user_ids)
vocabulary = product_lookup.vocabulary_size()
print("products:", vocabulary, "users:", user_lookup.vocabulary_size())

session_ids = keras.ops.convert_to_numpy(product_lookup(sessions))
user_index = keras.ops.convert_to_numpy(user_lookup(user_ids))[:, None]
target = keras.ops.convert_to_numpy(product_lookup(following))

session_input = keras.Input(shape=(length,), name="session")
user_input = keras.Input(shape=(1,), name="user")
s = layers.Embedding(vocabulary, 8)(session_input)
s = layers.GRU(12)(s)
u = layers.Flatten()(layers.Embedding(user_lookup.vocabulary_size(), 4)(user_input))
h = layers.Concatenate()([s, u])
h = layers.Dense(vocabulary)(h)
outputs = layers.Softmax()(h)
model = keras.Model([session_input, user_input], outputs)
model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9), loss="sparse_categorical_crossentropy",
              metrics=["sparse_top_k_categorical_accuracy"])
model.fit([session_ids, user_index], target, batch_size=16, epochs=3, verbose=0)
print(model.evaluate([session_ids, user_index], target, verbose=0))
best = np.argmax(model.predict([session_ids[:4], user_index[:4]], verbose=0), axis=-1)
print("predicted:", product_lookup.get_vocabulary()[int(best[0])])
