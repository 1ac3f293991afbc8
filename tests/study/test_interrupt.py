"""vlpet.study.interrupt with real signals sent to this process, outside a Tune run (the whole path through Tune
is tested on the real CLI in tests/reliability/test_interrupt.py)."""

from __future__ import annotations

import os
import signal

import pytest

from vlpet.study.interrupt import TUNE_SIGINT_SWITCH, Interrupted, Interruption


@pytest.mark.parametrize("number, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_outside_tune_raises_where_the_driver_is_and_is_recorded(number, status):
    with Interruption() as interruption:
        with pytest.raises(Interrupted):
            signal.raise_signal(number)                       # its handler runs before raise_signal returns
    assert interruption.signal == number and interruption.exit_status == status


def test_the_previous_handlers_and_tunes_sigint_switch_come_back():
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    switch = os.environ.get(TUNE_SIGINT_SWITCH)
    with Interruption():
        assert os.environ[TUNE_SIGINT_SWITCH] == "1"          # Tune leaves SIGINT to vlpet
        assert all(signal.getsignal(number) != handler for number, handler in before.items())
    assert {number: signal.getsignal(number) for number in before} == before
    assert os.environ.get(TUNE_SIGINT_SWITCH) == switch


def test_signals_during_the_final_clean_up_are_ignored():
    with Interruption() as interruption:
        with pytest.raises(Interrupted):
            signal.raise_signal(signal.SIGINT)
        assert interruption.finish() == 130
        signal.raise_signal(signal.SIGTERM)                  # ignored: nothing raised, the first signal kept
    assert interruption.signal == signal.SIGINT
