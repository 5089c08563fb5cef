"""A deeper sigmoid network: [784, 500, 500, 10], quadratic cost, SGD, batch 10 (reference: ~90%).

Two sigmoid hidden layers under the quadratic cost learn slowly (the gradients shrink through each
sigmoid layer), which is what this example shows next to the shallow one.
"""

from _common import run

if __name__ == "__main__":
    run(
        "[784, 500, 500, 10] sigmoid, quadratic cost, SGD lr 0.1, batch 10",
        "~90%",
        epochs=5,
        hidden=(500, 500),
        activation="sigmoid",
        loss="quadratic",
        optimizer="sgd",
        lr=0.1,
        batch_size=10,
        l2=0.0,
        lr_schedule="constant",
    )
