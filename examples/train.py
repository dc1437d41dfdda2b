"""A small training script to try Kleio with: linear regression by stochastic gradient
descent on synthetic data, in pure Python.

    kleio python examples/train.py --epochs 20 --lr 0.05

It logs its loss every epoch and a checkpoint every 5 epochs with ``kleio_logger``, and
resumes from its latest checkpoint: stop it with Ctrl-C and run the same command again.
Run it again once completed and Kleio says so. Without ``kleio`` it prints its
statistics instead. On SIGUSR1 (what a cluster's scheduler sends before a time limit,
see ``examples/slurm/``) it saves a checkpoint at the end of the epoch and stops.
"""

import argparse
import json
import random
import signal
import sys
import time

from kleio.client.logger import kleio_logger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sleep", type=float, default=0.05, help="seconds per epoch, to watch")
    parser.add_argument("--save", help="write the final weights to this JSON file")
    args = parser.parse_args()

    weight, bias, first = 0.0, 0.0, 1
    checkpoints = kleio_logger.load_artifacts("checkpoint")  # latest first
    if checkpoints:
        state = json.loads(checkpoints[0].read())
        weight, bias, first = state["weight"], state["bias"], state["epoch"] + 1
        print(f"resuming after epoch {state['epoch']}")

    asked_to_stop = []
    signal.signal(signal.SIGUSR1, lambda signum, frame: asked_to_stop.append(signum))

    rng = random.Random(args.seed)
    data = [(x, 3.0 * x - 1.0 + rng.gauss(0, 0.1))
            for x in (rng.uniform(-1, 1) for _ in range(args.samples))]
    for epoch in range(first, args.epochs + 1):
        random.Random(args.seed * 1000 + epoch).shuffle(data)
        for x, y in data:
            error = weight * x + bias - y
            weight -= args.lr * error * x
            bias -= args.lr * error
        loss = sum((weight * x + bias - y) ** 2 for x, y in data) / len(data)
        kleio_logger.log_statistic(epoch=epoch, loss=loss, weight=weight, bias=bias)
        if epoch % 5 == 0 or asked_to_stop:
            state = {"epoch": epoch, "weight": weight, "bias": bias}
            kleio_logger.log_artifact("checkpoint", json.dumps(state).encode(), epoch=epoch)
        print(f"epoch {epoch:3d}  loss {loss:.5f}  weight {weight:.3f}  bias {bias:.3f}",
              flush=True)
        if asked_to_stop:
            print(f"checkpointed after epoch {epoch}: stopping", flush=True)
            sys.exit(0)
        time.sleep(args.sleep)
    if args.save:
        with open(args.save, "w") as out:
            json.dump({"weight": weight, "bias": bias}, out)
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
