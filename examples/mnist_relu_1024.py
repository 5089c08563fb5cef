"""A two-layer 784-1024-10 ReLU network with softmax cross-entropy and L2 (reference: 97.87% test accuracy)."""

from _common import run

if __name__ == "__main__":
    run(
        "784-1024-10 ReLU, softmax cross-entropy, L2 1e-4, SGD momentum 0.9",
        "97.87%",
        epochs=10,
        hidden=(1024,),
        activation="relu",
        loss="cross_entropy",
        optimizer="momentum",
        lr=0.05,
        momentum=0.9,
        batch_size=128,
        l2=1e-4,
        lr_schedule="constant",
    )
