"""One rank of a data-parallel job: ``srun -n 2 kleio python examples/slurm/ranks.py``
(see ``ranks.sbatch``). Every rank logs a statistic per step, with its rank; a rank of a
requeued job resumes after the last step it logged, so each rank logs each step once."""

import argparse
import time

from kleio.client.logger import kleio_logger

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=100)
parser.add_argument("--sleep", type=float, default=0.2, help="seconds per step, to watch")
args = parser.parse_args()

rank = kleio_logger.rank  # SLURM_PROCID of the job step: 0 or 1 under srun -n 2
done = kleio_logger.load_statistics(rank=rank).column("step")  # every execution's
first = done[-1] + 1 if done else 0
if done:
    print(f"rank {rank} resuming after step {done[-1]}", flush=True)
for step in range(first, args.steps):
    loss = 1.0 / (1 + step + rank)  # stands for one step of training
    kleio_logger.log_statistic(rank=rank, step=step, loss=loss)
    print(f"rank {rank} step {step} loss {loss:.4f}", flush=True)
    time.sleep(args.sleep)
