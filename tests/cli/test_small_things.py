"""Small things a researcher meets in a day: each one seen, each one fixed."""

from __future__ import annotations

import re

from tests.conftest import commit, write_script
from tests.helpers import text, trial_id_in

QUICK = """\
import argparse
from kleio.client.logger import kleio_logger as log
parser = argparse.ArgumentParser()
parser.add_argument("--use-optimizer-with-a-long-name", default=False, action="store_true")
parser.add_argument("--lr", type=float, default=0.012037582709643698)
args = parser.parse_args()
log.log_statistic(loss=0.012037582709643698)
"""


def test_info_says_what_a_short_run_used_in_words_not_run_together(kleio, project, journal):
    """A run shorter than the sample interval had no resource sample; info ran long
    keys into their values and printed statistics to 17 digits."""
    write_script(project, "quick.py", QUICK)
    commit(project)
    ran = trial_id_in(kleio("python", "quick.py").stderr)
    samples = [e.data for e in journal.read_events(ran, ["usage"])]
    assert len(samples) == 1 and samples[0]["at_end"] is True, samples
    assert samples[0]["rss"] > 1 << 20 and samples[0]["processes"] == 1
    shown = text(kleio("info", ran[:7]).stdout)
    assert "  use-optimizer-with-a-long-name: false  (default)\n" in shown, shown
    assert re.search(r"  samples: +1\n  peak memory: +\d", shown), shown
    assert "last 0.01204\n" in shown, shown
    assert "0.012037582709643698  (default)" in shown  # configuration: in full
