"""A tiny data-parallel training on CPU (gloo), one statistic per step and rank:
``torchrun --no-python --nproc-per-node 2 kleio python ddp.py --steps 3``."""

import argparse
import os
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from kleio.client.logger import kleio_logger

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--lr", type=float, default=0.1)
args = parser.parse_args()

dist.init_process_group("gloo")  # torchrun set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
rank = dist.get_rank()
torch.manual_seed(rank)
model = DistributedDataParallel(torch.nn.Linear(4, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
for step in range(args.steps):
    inputs, targets = torch.randn(8, 4), torch.randn(8, 1)
    loss = torch.nn.functional.mse_loss(model(inputs), targets)
    optimizer.zero_grad()
    loss.backward()  # gradients averaged over the ranks
    optimizer.step()
    kleio_logger.log_statistic(step=step, loss=loss.item())
    print(f"rank {rank} step {step} loss {loss.item():.4f}", flush=True)

# For the tests: a rank that fails (FAIL_RANK), while the others are still at work; ranks
# that stay PAUSE seconds more, or until the file RELEASE names exists.
if os.environ.get("FAIL_RANK") == str(rank):
    sys.exit(3)
paused = time.monotonic() + float(os.environ.get("PAUSE", "0"))
while time.monotonic() < paused and not os.path.exists(os.environ.get("RELEASE", "")):
    time.sleep(0.1)
dist.destroy_process_group()
