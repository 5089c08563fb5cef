"""Nielsen's network: [784, 30, 10] sigmoid units, quadratic cost, SGD, batch 10, lr 3.0, 30 epochs (reference: ~95%).

From chapter 1 of M. Nielsen, "Neural Networks and Deep Learning" (2015).
"""

from _common import run

if __name__ == "__main__":
    run(
        "[784, 30, 10] sigmoid, quadratic cost, SGD lr 3.0, batch 10",
        "~95%",
        epochs=30,
        hidden=(30,),
        activation="sigmoid",
        loss="quadratic",
        optimizer="sgd",
        lr=3.0,
        batch_size=10,
        l2=0.0,
        lr_schedule="constant",
    )
